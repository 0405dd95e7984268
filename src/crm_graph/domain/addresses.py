"""Postal addresses of a customer: validated and normalised into one stored shape.

A customer holds a list of addresses (``Customer.addresses``, a JSON column), each an object
with ``kind`` (billing, shipping or other), ``lines`` (street lines, in order), ``city``,
``region``, ``postal_code`` and ``country`` (ISO 3166-1 alpha-2, through pycountry). Spaces
are collapsed, postal codes upper-cased, and a region that names one of its country's ISO
3166-2 subdivisions (``Bayern``, ``Bavaria``, ``by``, ``DE-BY``) is stored as that subdivision's code
(``BY``), so one place is spelt one way: filters and the duplicate finder compare like with
like. Anything else is kept as given, trimmed.
"""

from __future__ import annotations

import gettext
import re
from functools import lru_cache
from typing import Any

import pycountry

from crm_graph.domain.errors import Collector, not_one_of
from crm_graph.domain.values import clean_text, normalise_country

KINDS = ("billing", "shipping", "other")
FIELDS = ("kind", "lines", "city", "region", "postal_code", "country")
MAX_ADDRESSES, MAX_LINES = 10, 4
MAX_LINE, MAX_CITY, MAX_REGION, MAX_POSTAL_CODE = 200, 100, 100, 20
_SPACES = re.compile(r"\s+")


def _text(value: Any, errors: Collector, path: tuple[str, ...], max_length: int) -> str | None:
    text = clean_text(value, errors, *path, max_length=max_length * 2)
    if text is None:
        return None
    text = _SPACES.sub(" ", text)
    if len(text) > max_length:
        errors.add("TOO_LONG", f"at most {max_length} characters", *path)
        return None
    return text


@lru_cache(maxsize=1)
def _english() -> gettext.NullTranslations:
    return gettext.translation("iso3166-2", pycountry.LOCALES_DIR, ["en"], fallback=True)


@lru_cache(maxsize=256)
def _subdivisions(country: str) -> dict[str, str]:
    """Lower-case subdivision codes (``by``, ``de-by``) and names, local and English
    (``Bayern``, ``Bavaria``) -> the code after the dash."""
    found: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code=country) or ():
        short = sub.code.split("-", 1)[1]
        for key in (sub.code, short, sub.name, _english().gettext(sub.name)):
            found.setdefault(key.lower(), short)
    return found


def _region(text: str | None, country: str | None) -> str | None:
    if text is None or country is None:
        return text
    return _subdivisions(country).get(text.lower(), text)


def normalise_address(value: Any, errors: Collector, *path: str) -> dict[str, Any] | None:
    """One address in the stored shape; problems go to ``errors`` under ``path``."""
    if not isinstance(value, dict):
        errors.add("INVALID_VALUE", "an address must be an object", *path)
        return None
    unknown = sorted(set(value) - set(FIELDS))
    for key in unknown:
        errors.add("INVALID_VALUE", f"unknown address field {key!r}", *path, key)
    kind = value.get("kind") or "other"
    kind = kind.strip().lower() if isinstance(kind, str) else kind
    if kind not in KINDS:
        errors.add("INVALID_VALUE", not_one_of("address kind", KINDS), *path, "kind")
    raw_lines = value.get("lines") or []
    if isinstance(raw_lines, str):
        raw_lines = raw_lines.splitlines()
    if not isinstance(raw_lines, list):
        errors.add("INVALID_VALUE", "street lines must be a list of text", *path, "lines")
        raw_lines = []
    lines = [
        line
        for index, raw in enumerate(raw_lines)
        if (line := _text(raw, errors, (*path, "lines", str(index)), MAX_LINE)) is not None
    ]
    if len(lines) > MAX_LINES:
        errors.add("TOO_MANY", f"at most {MAX_LINES} street lines", *path, "lines")
    country_path = (*path, "country")
    country = normalise_country(
        _text(value.get("country"), errors, country_path, 100), errors, *country_path
    )
    if country is None and not any(e.field == list(country_path) for e in errors.errors):
        errors.add("REQUIRED", "an address needs its country", *country_path)
    city = _text(value.get("city"), errors, (*path, "city"), MAX_CITY)
    postal_code = _text(value.get("postal_code"), errors, (*path, "postalCode"), MAX_POSTAL_CODE)
    if not (lines or city or postal_code):
        errors.add("REQUIRED", "an address needs street lines, a city or a postal code", *path)
    return {
        "kind": kind,
        "lines": lines,
        "city": city,
        "region": _region(
            _text(value.get("region"), errors, (*path, "region"), MAX_REGION), country
        ),
        "postal_code": postal_code.upper() if postal_code else None,
        "country": country,
    }


def normalise_addresses(values: Any, errors: Collector, *path: str) -> list[dict[str, Any]]:
    """A customer's addresses, in the order given; an identical address given twice is kept
    once."""
    if values is None:
        return []
    if not isinstance(values, list):
        errors.add("INVALID_VALUE", "addresses must be a list", *path)
        return []
    if len(values) > MAX_ADDRESSES:
        errors.add("TOO_MANY", f"at most {MAX_ADDRESSES} addresses", *path)
        return []
    out: list[dict[str, Any]] = []
    for index, value in enumerate(values):
        address = normalise_address(value, errors, *path, str(index))
        if address is not None and address not in out:
            out.append(address)
    return out
