"""Rules for text a person typed (subjects, replies, survey comments, tags), shared by every
way it comes in: trimmed, bounded, storable on both databases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_graph.plugin import Collector

MAX_SUBJECT = 200
MAX_TEXT = 20_000
MAX_TAGS = 20
MAX_TAG = 50
ERASED = "[erased]"


def clean(value: Any, errors: Collector, path: tuple[str, ...], limit: int, required: bool) -> str:
    """Trimmed text within ``limit``; NUL bytes and lone surrogates are refused (neither
    database stores them)."""
    if not isinstance(value, str):
        errors.add("INVALID_VALUE", "must be text", *path)
        return ""
    text = value.strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        errors.add("INVALID_TEXT", "holds a character that is not text", *path)
        return ""
    if "\x00" in text:
        errors.add("INVALID_TEXT", "holds a NUL character", *path)
        return ""
    if required and not text:
        errors.add("REQUIRED", "must not be empty", *path)
    elif len(text) > limit:
        errors.add("TOO_LONG", f"at most {limit} characters", *path)
    return text


def clean_tags(tags: Sequence[Any], errors: Collector, path: tuple[str, ...]) -> list[str]:
    """Lower-case, distinct tags in their order, each a short word."""
    found: list[str] = []
    for index, tag in enumerate(tags):
        text = clean(tag, errors, (*path, str(index)), MAX_TAG, True).lower()
        if text and text not in found:
            found.append(text)
    if len(found) > MAX_TAGS:
        errors.add("TOO_MANY", f"at most {MAX_TAGS} tags", *path)
    return found


def one_of(value: str, choices: Sequence[str], errors: Collector, path: tuple[str, ...]) -> str:
    if value not in choices:
        errors.add("INVALID_VALUE", f"must be one of {', '.join(choices)}", *path)
    return value
