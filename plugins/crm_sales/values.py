"""Value rules shared by leads and companies: custom attributes, free mail domains."""

from __future__ import annotations

from typing import Any

from crm_graph.plugin import Collector, clean_text

MAX_ATTRIBUTES = 50
# Addresses at these domains say nothing about the employer: never suggested as contacts.
FREE_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
    }
)


def check_attributes(values: Any, errors: Collector, *path: str) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        errors.add("INVALID_VALUE", "custom attributes must be a JSON object", *path)
        return {}
    if len(values) > MAX_ATTRIBUTES:
        errors.add("TOO_MANY", f"at most {MAX_ATTRIBUTES} custom attributes", *path)
    for key, value in values.items():
        if not isinstance(value, str | int | float | bool | None) or (
            isinstance(value, float) and value != value
        ):
            errors.add("INVALID_VALUE", "values must be strings, numbers or booleans", *path, key)
        elif isinstance(value, str):
            clean_text(value, errors, *path, key, max_length=1000)
        clean_text(key, errors, *path, key, max_length=100)
    return values


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape character: backslash) finding ``text`` anywhere: the wildcards
    in ``text`` match themselves."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
