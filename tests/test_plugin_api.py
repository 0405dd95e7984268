"""The plugin API's own shape: one package of named groups, each public name meaning one thing.

Plugins see crm-graph only through ``crm_graph.plugin``; these tests hold its surface to what
``docs/plugins.md`` promises, so a name added outside a group, or a second ``Customer``, fails.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

from sqlalchemy.types import TypeEngine
from sqlmodel import SQLModel

import crm_graph.plugin as api


def _groups() -> dict[str, ModuleType]:
    return {
        info.name: importlib.import_module(f"{api.__name__}.{info.name}")
        for info in pkgutil.iter_modules(api.__path__)
    }


def test_every_public_name_is_in_exactly_one_group_and_re_exported() -> None:
    groups = _groups()
    assert {"markers", "contributions", "app", "tables", "types", "domain", "events"} <= set(groups)
    owners: dict[str, list[str]] = {}
    for group, module in groups.items():
        for name in module.__all__:
            owners.setdefault(name, []).append(group)
            assert getattr(api, name) is getattr(module, name), name
    assert {name: found for name, found in owners.items() if len(found) > 1} == {}
    assert sorted(api.__all__) == sorted(owners)
    assert len(api.__all__) == len(set(api.__all__))


def test_markers_are_together() -> None:
    from crm_graph.plugin import markers

    assert {"hookimpl", "hookspec"} <= set(markers.__all__)


def test_names_say_whether_they_are_a_row_a_column_type_or_a_graphql_type() -> None:
    """One name per thing: ``CustomerRow`` is the table row, ``CustomerType`` the GraphQL
    ``Customer``, ``MoneyColumn`` the column type, ``MoneyType`` the GraphQL ``Money``; the bare
    ``Customer`` and ``Money`` that name two things in the core are not published."""
    published = {name: getattr(api, name) for name in api.__all__}
    assert len({id(value) for value in published.values()}) == len(published)
    graphql_names = set()
    for name, value in published.items():
        definition = getattr(value, "__strawberry_definition__", None)
        if name.endswith("Row"):
            assert isinstance(value, type) and issubclass(value, SQLModel), name
            assert value.__table__ is not None, name
        if name.endswith("Column"):
            assert isinstance(value, TypeEngine) or issubclass(value, TypeEngine), name
        if name.endswith("Type") and definition is not None:
            assert name == f"{definition.name}Type", name
            graphql_names.add(definition.name)
        if definition is None and isinstance(value, type) and issubclass(value, SQLModel):
            assert value is SQLModel or name.endswith(("Row", "Record")), name
    assert {"Customer", "Order", "Interaction", "Product", "Money"} <= graphql_names
    assert graphql_names.isdisjoint(published)


def test_docs_describe_every_group_and_every_name() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text()
    api_docs = docs.split("\n## The plugin API, group by group\n", 1)[1].split("\n## ", 1)[0]
    sections = set(re.findall(r"^### `(\w+)`$", api_docs, flags=re.MULTILINE))
    assert sections == set(_groups())
    undocumented = [name for name in api.__all__ if f"`{name}`" not in api_docs]
    assert undocumented == []
