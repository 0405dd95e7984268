"""Normalising single values: e-mail addresses, phone numbers, money and currencies."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import phonenumbers
from babel.numbers import get_currency_precision, list_currencies
from email_validator import EmailNotValidError, validate_email

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
    exponent = Decimal(1).scaleb(-get_currency_precision(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_EVEN)


def clean_text(
    value: str | None, errors: Collector, *path: str, max_length: int, required: bool = False
) -> str | None:
    """Trimmed text; empty becomes None; NUL bytes are refused (PostgreSQL cannot store them)."""
    text = (value or "").strip()
    if "\x00" in text:
        errors.add("INVALID_VALUE", "text must not contain NUL bytes", *path)
        return None
    if not text:
        if required:
            errors.add("REQUIRED", "must not be empty", *path)
        return None
    if len(text) > max_length:
        errors.add("TOO_LONG", f"at most {max_length} characters", *path)
        return None
    return text
