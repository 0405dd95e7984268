"""Reading JSON columns: the engine's ``json_deserializer``. It reads anything this server
has ever stored, so that no row is unreadable and no reader (a list, an export, the event
log's) stops on one: see :func:`loads`."""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from typing import Any

import orjson

from crm_graph.db.storable import MAX_SAFE_INTEGER, number_problem

log = logging.getLogger(__name__)


class Repaired(dict[str, Any]):
    """A stored JSON object that could only be read by changing values no reader accepts;
    ``problems`` lists each as ``{"field": [...], "message": ...}``."""

    problems: list[dict[str, Any]]


class _Unreadable(str):
    """A number as its stored text, while :func:`loads` repairs a value."""


_DIGITS = len(str(MAX_SAFE_INTEGER))
_SURROGATES = re.compile("[\ud800-\udfff]")


def _int(text: str) -> int | str:
    # Past 16 digits it is out of range anyway; Python refuses to convert past 4,300.
    if len(text.lstrip("-")) > _DIGITS or number_problem(int(text)) is not None:
        return _Unreadable(text)
    return int(text)


def _float(text: str) -> float | str:
    number = float(text)
    return number if number_problem(number) is None else _Unreadable(text)


def loads(text: str | bytes) -> Any:
    """A JSON column's value, for the engine. It reads anything this server has ever stored:
    values written before input was checked (:mod:`crm_graph.db.storable`) may hold
    numbers orjson refuses (``1e310`` as an integer, ``NaN``) or lone surrogates. Those are
    read as their stored text (a number) or with U+FFFD (a surrogate), logged once, and the
    object that held them is a :class:`Repaired` naming them: a row is never unreadable, so no
    reader (a list, an export, the event log's) stops on it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    problems: list[dict[str, Any]] = []
    value = _repair(
        json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_Unreadable),
        [],
        problems,
    )
    if problems and isinstance(value, dict):
        value = Repaired(value)
        value.problems = problems
    if problems:
        _log_once(json.dumps(problems))
    return value


def _repair(value: Any, path: list[str], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, _Unreadable):
        message = f"a stored number no JSON reader accepts ({len(value)} characters), read as text"
        problems.append({"field": path, "message": message})
        return str(value)
    if isinstance(value, str):
        if _SURROGATES.search(value) is None:
            return value
        message = "stored text held a lone UTF-16 surrogate, read as U+FFFD"
        problems.append({"field": path, "message": message})
        return _SURROGATES.sub("\ufffd", value)
    if isinstance(value, list):
        return [_repair(item, [*path, str(i)], problems) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {
            _repair(key, [*path, key], problems): _repair(item, [*path, key], problems)
            for key, item in value.items()
        }
    return value


@lru_cache(maxsize=256)
def _log_once(problems: str) -> None:
    log.warning(
        "a stored JSON value was read with repairs (stored before input was checked): %s", problems
    )
