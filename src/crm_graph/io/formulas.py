"""CSV cells a spreadsheet would run as a formula, escaped in the CSV files this server writes
and restored when a CSV file is imported, so an export imports back exactly.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``@SUM(...)``, DDE's ``-cmd|...``):
opening an export would run what a customer typed. OWASP's rule is to prefix such a cell with
a single quote, which spreadsheets show as text. A number (``-5``, ``+1.5e3``; so also an E.164
phone number, ``+14155550123``) cannot run and is left as it is.

To make the escape reversible, a cell that starts with the quote itself followed by one of
those characters or another quote is escaped too; the importer removes one leading quote from
exactly those cells (:func:`unescape`). Any other cell, ``'Tis`` included, is read as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

QUOTE = "'"
TRIGGERS = frozenset("=+-@\t\r")
_ESCAPED = TRIGGERS | {QUOTE}  # what follows the quote of an escaped cell
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def escape(cell: str) -> str:
    """``cell`` as a spreadsheet shows it as text (see the module's rule)."""
    first = cell[:1]
    if (first in TRIGGERS and _NUMBER.fullmatch(cell) is None) or (
        first == QUOTE and cell[1:2] in _ESCAPED
    ):
        return QUOTE + cell
    return cell


def unescape(cell: str) -> str:
    """The value of a cell :func:`escape` wrote (any other cell is its own value)."""
    return cell[1:] if cell[:1] == QUOTE and cell[1:2] in _ESCAPED else cell


def unescape_row(cells: list[str]) -> Iterable[str]:
    """The values of a row's cells; a row without a quote (most rows) is taken as it is
    (imports read tens of thousands of rows a second)."""
    return map(unescape, cells) if QUOTE in "".join(cells) else cells
