"""Writers generated as Python code, once per plan.

An object of a level is written for every row of its page (the nested bench page writes
about 1,000); a table of writers called in a loop pays a call per field (and one more for
its conversion) where most fields only copy a column. A level's writer is instead compiled,
when its plan is built, into one function whose dict display reads such columns inline and
calls the writers of the other fields. The source holds only response keys (GraphQL names,
written with repr) and column indexes; values are passed in its namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def inline(writer: Any, expression: str, **names: Any) -> Any:
    """Mark ``writer`` as computing ``expression`` of ``row`` (``{name}`` placeholders stand
    for ``names``' values): an object writer reads it inline instead of calling it."""
    writer.inline = (expression, names)
    return writer


def object_writer(fields: list[tuple[str, Any]]) -> Callable[[Any, Any, Any], dict[str, Any]]:
    """The writer of an object whose ``fields`` are (response key, writer) in order."""
    namespace: dict[str, Any] = {}
    entries = []
    for n, (key, writer) in enumerate(fields):
        expression, names = getattr(writer, "inline", (None, {}))
        if expression is None:
            namespace[f"w{n}"] = writer
            expression = f"w{n}(row, run, path)"
        else:
            namespace.update({f"{name}_{n}": value for name, value in names.items()})
            expression = expression.format(**{name: f"{name}_{n}" for name in names})
        entries.append(f"{key!r}: {expression}")
    source = "def write(row, run, path):\n    return {" + ", ".join(entries) + "}\n"
    exec(compile(source, "<plan writer>", "exec"), namespace)
    return namespace["write"]


def record(keys: list[tuple[str, str]], parameters: str) -> Callable[..., dict[str, Any]]:
    """A function of ``parameters`` returning ``{key: expression}`` for ``keys`` (pairs of a
    response key and an expression of the parameters), e.g. a ``Money`` object's fields."""
    entries = ", ".join(f"{key!r}: {expression}" for key, expression in keys)
    return eval(f"lambda {parameters}: {{{entries}}}")
