"""A plan's statements compiled once and run on the driver connection.

Through SQLAlchemy, every execution builds the statement, derives its cache key, looks up
the compiled form, makes an execution context and wraps each row: about a fifth of a nested
page's CPU (session 8's profile), more than the database. A plan's statements differ from one
request to the next only in a few bind values (the parents' keys, the caller's owners), so
each is compiled once per argument set into its dialect's SQL text and parameter order, and
run on the driver (asyncpg or aiosqlite) with rows back as tuples. What SQLAlchemy would still
do per value (a type whose Python value differs from the driver's: SQLite's times, decimals
and booleans, time zone handling) is done by the row maker, so rows hold the same values.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from crm_graph.schema.planner.cache import LRU
from crm_graph.schema.plugin_fields import CLOCK

# The bind parameter holding the keys of a level's parents (see batch_writes.among_parameter).
PARENTS = "crm_parents"
# The request's time, given per request; a statement reads it (or a time after it) through
# plugin_fields.request_time's parameters.
NOW = "crm_now"
# Bind parameters valued per request, the rest being fixed when the statement is built:
# the parents' keys, the caller's owners (auth.scope.owner_parameters) and the time.
_GIVEN = (PARENTS, "crm_owners_", f"{NOW}_")

_new_tuple = tuple.__new__

# Row makers by dialect, SQL text and column types: an argument set compiled anew (the next page of a list
# whose cursor is a variable) has the same columns as the last, so its driver types are asked
# for (a round trip on PostgreSQL) once per text, not once per argument set.
_MAKERS = LRU(256)


class Prepared:
    """One statement's SQL text for ``dialect``, its parameters in order (fixed values, or
    slots filled per request) and the maker of its rows."""

    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        expanded = compiled._post_compile_expanded_state
        processors = {**compiled._bind_processors, **((expanded and expanded.processors) or {})}
        values = compiled.construct_params()
        self.text: str = compiled.string
        self.fixed: list[Any] = []
        self.slots: list[tuple[int, str, Callable[[Any], Any] | None]] = []
        # request_time parameters with a clock of their own: valued by it at each run.
        self.clocks: dict[str, Callable[[], Any]] = {}
        for position, name in enumerate(compiled.positiontup or ()):
            process = processors.get(name)
            if name.startswith(_GIVEN):
                self.slots.append((position, name, process))
                if name.startswith(NOW) and CLOCK in name:
                    self.clocks[name] = compiled.binds[name].callable
                self.fixed.append(None)
            else:
                value = values[name]
                self.fixed.append(value if process is None else process(value))
        self.dialect = dialect
        self.columns = compiled._result_columns
        # Made at the first run of its text (see :meth:`describe`): until then None.
        self.key = (dialect.name, self.text, *(type(column.type) for column in self.columns))
        self.make: Callable[[Any], tuple[Any, ...]] | None = _MAKERS.get(self.key)

    def describe(self, driver_types: list[Any]) -> None:
        """Make the row maker from the driver's type of each column (PostgreSQL's OIDs: a
        numeric column's conversion depends on it), as SQLAlchemy makes it from a cursor's
        description; SQLite's driver gives no types."""
        self.make = _row_maker(
            [column.keyname for column in self.columns],
            [
                column.type._cached_result_processor(self.dialect, driver_type)
                for column, driver_type in zip(self.columns, driver_types, strict=True)
            ],
        )
        _MAKERS.put(self.key, self.make)

    def arguments(self, given: dict[str, Any]) -> list[Any]:
        """The statement's parameters in order, with ``given`` values in their slots."""
        arguments = self.fixed.copy()
        for position, name, process in self.slots:
            value = given.get(name)
            if value is None and name in self.clocks:
                value = self.clocks[name]()
            elif value is None and name.startswith(NOW):  # crm_now_<seconds after it>
                value = given[NOW] + timedelta(seconds=int(name[len(NOW) + 1 :]))
            arguments[position] = value if process is None else process(value)
        return arguments


def _row_maker(names: list[str], processors: list[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """Rows as named tuples (writers index them; batch functions and resolvers read their
    attributes, as of SQLAlchemy's rows), each value through its type's result processor:
    one generated expression per statement, ``new(Row, (r[0], p1(r[1]), ...))``."""
    namespace: dict[str, Any] = {"new": _new_tuple, "Row": namedtuple("Row", names, rename=True)}
    if not any(processors):
        return lambda record: _new_tuple(namespace["Row"], record)
    values = []
    for i, process in enumerate(processors):
        if process is None:
            values.append(f"r[{i}]")
        else:
            namespace[f"p{i}"] = process
            values.append(f"p{i}(r[{i}])")
    return eval(f"lambda r: new(Row, ({', '.join(values)},))", namespace)
