"""Normalising single values: e-mail addresses, phone numbers, money and currencies,
countries, dates of birth, languages and time zones."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

import langcodes
import phonenumbers
import pycountry
from babel.numbers import list_currencies
from email_validator import EmailNotValidError, validate_email
from langcodes.tag_parser import LanguageTagError

from crm_graph.db.jsonable import minor_unit
from crm_graph.db.storable import text_problem
from crm_graph.domain.errors import Collector

_CURRENCIES = frozenset(list_currencies())
MAX_AMOUNT = Decimal("1e14")


def normalise_email(value: str | None, errors: Collector, *path: str) -> str | None:
    """Syntax-checked, lower-cased address (no DNS lookups: a CRM must work offline)."""
    if value is None or not value.strip():
        return None
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        errors.add("INVALID_EMAIL", f"not a valid e-mail address: {exc}", *path)
        return None
    return result.normalized.lower()


def normalise_phone(value: str | None, region: str, errors: Collector, *path: str) -> str | None:
    """E.164 form (``+14155550123``); numbers without a country code use ``region``."""
    if value is None or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        errors.add("INVALID_PHONE", f"not a phone number: {exc}", *path)
        return None
    if not phonenumbers.is_valid_number(number):
        errors.add("INVALID_PHONE", "not a valid phone number", *path)
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_currency(value: str | None, errors: Collector, *path: str) -> str | None:
    code = (value or "").strip().upper()
    if code not in _CURRENCIES:
        errors.add("INVALID_CURRENCY", f"{value!r} is not an ISO 4217 currency code", *path)
        return None
    return code


def normalise_amount(
    value: Decimal | str | float | None, currency: str | None, errors: Collector, *path: str
) -> Decimal | None:
    """A non-negative amount rounded to the currency's minor unit (banker's rounding)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors.add("INVALID_AMOUNT", f"{value!r} is not a number", *path)
        return None
    if not amount.is_finite() or amount < 0 or amount >= MAX_AMOUNT:
        errors.add("INVALID_AMOUNT", "amount must be a finite number, 0 or more", *path)
        return None
    if currency is None:
        return amount
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_EVEN)


def clean_text(
    value: str | None, errors: Collector, *path: str, max_length: int, required: bool = False
) -> str | None:
    """Trimmed text; empty becomes None; NUL bytes and lone surrogates are refused (PostgreSQL
    cannot store them). A whole number stands for its digits (JSON Lines files often give
    numbers, like order numbers, as numbers); anything else that is not text is refused."""
    if type(value) is int:
        value = str(value)
    elif value is not None and not isinstance(value, str):
        errors.add("INVALID_VALUE", "must be text", *path)
        return None
    text = (value or "").strip()
    if (problem := text_problem(text)) is not None:
        errors.add(problem.code, problem.message, *path)
        return None
    if not text:
        if required:
            errors.add("REQUIRED", "must not be empty", *path)
        return None
    if len(text) > max_length:
        errors.add("TOO_LONG", f"at most {max_length} characters", *path)
        return None
    return text


def parse_datetime(value: datetime | str | None, errors: Collector, *path: str) -> datetime | None:
    """An aware UTC datetime from ISO 8601 or ``YYYYMMDD`` text (files carry no type).

    Values without a time zone are taken as UTC; a date alone means midnight UTC.
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        text = (value or "").strip()
        if not text:
            errors.add("REQUIRED", "must not be empty", *path)
            return None
        try:
            if len(text) == 8 and text.isdigit():
                parsed = datetime(int(text[:4]), int(text[4:6]), int(text[6:]))
            else:
                parsed = datetime.fromisoformat(text)
        except ValueError:
            errors.add("INVALID_DATE", f"{text[:40]!r} is not an ISO 8601 or YYYYMMDD date", *path)
            return None
    utc = as_utc(parsed)
    if utc is None:
        errors.add("INVALID_DATE", f"{str(value)[:40]!r} {OUT_OF_RANGE}", *path)
    return utc


OUT_OF_RANGE = "is outside years 1 to 9999 in UTC"


def as_utc(value: datetime) -> datetime | None:
    """``value`` in UTC (naive taken as UTC); ``None`` when UTC cannot hold it: an offset can
    push a valid local time into year 0 or 10000 (``9999-12-31T23:59:59-14:00``)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        return None


_COUNTRY_ALIASES = {"UK": "GB"}


@lru_cache(maxsize=1024)
def _country_code(text: str) -> str | None:
    """ISO 3166 alpha-2 for a code or a name; a fuzzy match only when it is unambiguous."""
    if text.upper() in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[text.upper()]
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        pass
    try:
        found = pycountry.countries.search_fuzzy(text)
    except LookupError:
        return None
    return found[0].alpha_2 if len(found) == 1 else None


def normalise_country(value: str | None, errors: Collector, *path: str) -> str | None:
    """An ISO 3166-1 alpha-2 code (``DE``) from a code (``de``, ``DEU``) or a name (``Germany``)."""
    text = (value or "").strip()
    if not text:
        return None
    code = _country_code(text[:100])
    if code is None:
        errors.add("INVALID_COUNTRY", f"{text[:40]!r} is not a known country", *path)
    return code


EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# The furthest east a calendar runs ahead of UTC (UTC+14, Kiribati): "today" somewhere.
_AHEAD_OF_UTC = timedelta(hours=14)


def parse_date(value: date | str | None, errors: Collector, *path: str) -> date | None:
    """A calendar date from a ``date`` or ISO 8601 / ``YYYYMMDD`` text; blank is None."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if not isinstance(value, str):
        errors.add("INVALID_DATE", "must be a date (YYYY-MM-DD)", *path)
        return None
    text = value.strip()
    if not text:
        return None
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text)
    except ValueError:
        errors.add("INVALID_DATE", f"{text[:40]!r} is not a YYYY-MM-DD date", *path)
        return None


def normalise_birth_date(value: date | str | None, errors: Collector, *path: str) -> date | None:
    """A birth date: a real calendar date, not before 1900 and not in the future (anywhere
    on Earth: a child born today in Kiribati is born "tomorrow" in UTC)."""
    born = parse_date(value, errors, *path)
    if born is None:
        return None
    if born > (datetime.now(UTC) + _AHEAD_OF_UTC).date():
        errors.add("INVALID_DATE", "a birth date cannot be in the future", *path)
        return None
    if born < EARLIEST_BIRTH_DATE:
        errors.add("INVALID_DATE", f"a birth date cannot be before {EARLIEST_BIRTH_DATE}", *path)
        return None
    return born


def normalise_language(value: str | None, errors: Collector, *path: str) -> str | None:
    """A BCP 47 language tag in its standard form (``en_us`` -> ``en-US``, ``iw`` -> ``he``),
    every subtag registered (IANA language subtag registry, through ``langcodes``)."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        tag = langcodes.standardize_tag(text[:64])
    except (LanguageTagError, ValueError):
        tag = None
    if tag is None or tag == "und" or not langcodes.tag_is_valid(tag) or len(tag) > 35:
        errors.add("INVALID_LANGUAGE", f"{text[:40]!r} is not a BCP 47 language tag", *path)
        return None
    return tag


@lru_cache(maxsize=1)
def _time_zones() -> dict[str, str]:
    """IANA zone names by their lower-case form."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def normalise_time_zone(value: str | None, errors: Collector, *path: str) -> str | None:
    """An IANA time zone name in its registered spelling (``europe/berlin`` ->
    ``Europe/Berlin``)."""
    text = (value or "").strip()
    if not text:
        return None
    name = _time_zones().get(text.lower().replace(" ", "_"))
    if name is None or name.lower() == "localtime":
        errors.add("INVALID_TIME_ZONE", f"{text[:40]!r} is not an IANA time zone", *path)
        return None
    return name
