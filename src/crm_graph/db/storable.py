"""What a JSON value from outside may hold, so that what is stored is read back as written by
every reader: this server (orjson), PostgreSQL's JSONB, JavaScript clients and webhook receivers.

The rule is I-JSON (RFC 7493), which is what a JSON text interoperates as, plus what the
databases refuse:

- integers within ±(2^53 - 1): JavaScript, and every parser that reads numbers as IEEE doubles,
  reads a larger one as a different number without a word (9007199254740993 becomes ...992),
  and orjson refuses one past 64 bits outright; an identifier that large belongs in a string;
- floating-point numbers finite (``1e400`` is infinity: no JSON text can hold it);
- text without NUL (PostgreSQL cannot store it) or a lone UTF-16 surrogate (not Unicode:
  PostgreSQL's JSONB and UTF-8 encoders refuse it);
- nesting at most :data:`MAX_DEPTH` deep (recursive readers run out of stack).

Every entry point checks its input with these functions: every GraphQL argument of core and
plugins (:mod:`crm_graph.schema.limits`); custom attributes however they arrive, from GraphQL,
CSV or JSON Lines (:mod:`crm_graph.domain.customers`); and all other text
(:func:`crm_graph.domain.values.clean_text`). An import's other numbers are range-checked by
the domain field by field. Values stored before these checks are still read
(:func:`crm_graph.db.stored_json.loads`).
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


class Problem(NamedTuple):
    """Where a value breaks the rule (``("attributes", "n")``), a stable code and why."""

    path: tuple[str, ...]
    code: str
    message: str


def text_problem(text: str, path: tuple[str, ...] = ()) -> Problem | None:
    """Why ``text`` cannot be stored as it is, or None."""
    if "\x00" in text:
        return Problem(path, "INVALID_VALUE", "text must not contain NUL bytes")
    if _SURROGATE.search(text):
        message = "text must not contain a lone UTF-16 surrogate (it is not Unicode)"
        return Problem(path, "INVALID_VALUE", message)
    return None


def number_problem(number: float, path: tuple[str, ...] = ()) -> Problem | None:
    """Why not every JSON reader reads ``number`` as written, or None."""
    if isinstance(number, int):
        if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            return None
        message = (
            f"integers must be within ±{MAX_SAFE_INTEGER} (2^53 - 1), which every JSON reader "
            "reads exactly; give a larger one as text"
        )
    elif math.isfinite(number):
        return None
    else:
        message = "numbers must be finite"
    return Problem(path, "NUMBER_OUT_OF_RANGE", message)


def too_deep(path: tuple[str, ...]) -> Problem:
    return Problem(path, "TOO_DEEP", f"JSON values nest at most {MAX_DEPTH} levels deep")


def problem_of(value: Any, path: tuple[str, ...] = (), depth: int = 0) -> Problem | None:
    """The first place in ``value`` (a decoded JSON value) that breaks the rule, or None."""
    if value is None or value is True or value is False:
        return None
    if isinstance(value, str):
        return text_problem(value, path)
    if isinstance(value, int | float):
        return number_problem(value, path)
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return Problem(path, "INVALID_VALUE", "not a JSON value")
    if depth >= MAX_DEPTH:
        return too_deep(path)
    for key, item in items:
        step = (*path, str(key))
        found = (text_problem(key, step) if isinstance(key, str) else None) or problem_of(
            item, step, depth + 1
        )
        if found is not None:
            return found
    return None
