"""Random read queries from the schema, for the differential tests of the compiled path.

Seeded and reproducible: query ``i`` of seed ``s`` is always the same text and variables.
Selections are drawn from the schema's own fields (core and plugin), nested connections get
random ``first``/``last``/``orderBy``, and some queries use aliases, fragments, inline
fragments, ``@include``/``@skip`` with variables, ``node`` and ``nodes``.
"""

from __future__ import annotations

import random
from typing import Any

from graphql import (
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
)

LISTS = {
    "customers": "CustomerOrderBy",
    "orders": "OrderOrderBy",
    "interactions": "InteractionOrderBy",
    "products": "ProductOrderBy",
    "tickets": "TicketOrderBy",
}
FILTERS = {
    "customers": ["{lifecycleStages: [CUSTOMER, LEAD]}", '{search: "a"}', "{includeDeleted: true}"],
    "orders": ["{statuses: [PAID]}", '{currency: "usd"}'],
    "interactions": ["{channels: [EMAIL, CHAT]}"],
    "products": ['{search: "e"}'],
    "tickets": ["{statuses: [NEW, OPEN]}", "{priorities: [URGENT]}", '{tag: "vip"}'],
}


class QueryGenerator:
    def __init__(self, schema: GraphQLSchema, seed: int, ids: list[str]) -> None:
        self.schema = schema
        self.random = random.Random(seed)
        self.ids = ids
        self.fragments: list[str] = []
        self.variables: dict[str, Any] = {}
        self.declared: list[str] = []
        self.aliases = 0
        self.lists = [name for name in LISTS if name in schema.query_type.fields]

    def query(self) -> tuple[str, dict[str, Any]]:
        self.fragments, self.variables, self.declared, self.aliases = [], {}, [], 0
        count = self.random.choice((1, 1, 2))
        # Two root fields of one name would conflict (different arguments): aliased apart.
        roots = [self._root() if count == 1 else f"r{i}: {self._root()}" for i in range(count)]
        head = (
            f"query Generated({', '.join(self.declared)})" if self.declared else "query Generated"
        )
        text = head + " { " + " ".join(roots) + " }" + "".join(self.fragments)
        return text, dict(self.variables)

    def _alias(self, name: str) -> str:
        if self.aliases < 10 and self.random.random() < 0.15:
            self.aliases += 1
            return f"a{self.aliases}: {name}"
        return name

    def _condition(self) -> str:
        if self.random.random() > 0.15:
            return ""
        name = f"c{len(self.declared)}"
        self.declared.append(f"${name}: Boolean!")
        self.variables[name] = self.random.random() < 0.5
        return f" @{self.random.choice(('include', 'skip'))}(if: ${name})"

    def _page_args(self, order_by: str | None, filters: list[str] | None) -> str:
        """Paging, ordering and filter arguments; a page size in a variable only at the root
        (the cost limit counts a variable as the largest page)."""
        args = []
        size = self.random.choice((0, 1, 2, 3, 5))
        if filters is not None and self.random.random() < 0.3:
            name = f"n{len(self.declared)}"
            self.declared.append(f"${name}: Int")
            self.variables[name] = size
            args.append(f"{self.random.choice(('first', 'last'))}: ${name}")
        elif self.random.random() < 0.8:
            args.append(f"{self.random.choice(('first', 'last'))}: {size}")
        if order_by and self.random.random() < 0.4:
            enum = self.schema.get_type(order_by).fields["field"].type
            field = self.random.choice(list(get_named_type(enum).values))
            direction = self.random.choice(("ASC", "DESC"))
            args.append(f"orderBy: {{field: {field}, direction: {direction}}}")
        if filters and self.random.random() < 0.3:
            args.append(f"filter: {self.random.choice(filters)}")
        return f"({', '.join(args)})" if args else ""

    def _root(self) -> str:
        kind = self.random.random()
        if kind < 0.15 and self.ids:
            picked = self.random.sample(self.ids, min(3, len(self.ids)))
            name = f"ids{len(self.declared)}"
            self.declared.append(f"${name}: [ID!]!")
            self.variables[name] = picked
            inner = self._node_selection(2)
            return f"nodes(ids: ${name}) {{ {inner} }}"
        if kind < 0.25 and self.ids:
            return f'node(id: "{self.random.choice(self.ids)}") {{ {self._node_selection(2)} }}'
        name = self.random.choice(self.lists)
        field = self.schema.query_type.fields[name]
        args = self._page_args(LISTS[name], FILTERS[name])
        return f"{name}{args} {{ {self._connection(field.type, 2)} }}"

    def _node_selection(self, depth: int) -> str:
        parts = ["__typename", "id"]
        for type_name in ("Customer", "Order", "Interaction", "Product"):
            if self.random.random() < 0.6:
                selection = self._selection(self.schema.get_type(type_name), depth)
                parts.append(f"... on {type_name} {{ {selection} }}")
        return " ".join(parts)

    def _connection(self, connection_type: Any, depth: int) -> str:
        connection = get_named_type(connection_type)
        node_type = get_named_type(connection.fields["nodes"].type)
        parts = []
        if self.random.random() < 0.3:
            parts.append("totalCount")
        if self.random.random() < 0.3:
            info = self.random.sample(
                ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"], 2
            )
            parts.append(f"pageInfo {{ {' '.join(info)} }}")
        if self.random.random() < 0.3:
            parts.append(f"edges {{ cursor node {{ {self._selection(node_type, depth)} }} }}")
        if not parts or self.random.random() < 0.8:
            parts.append(f"nodes {{ {self._selection(node_type, depth)} }}")
        return " ".join(parts)

    def _selection(self, object_type: GraphQLObjectType, depth: int) -> str:
        parts = ["id"] if "id" in object_type.fields else []
        for name, field in object_type.fields.items():
            if self.random.random() > 0.35 or name == "id":
                continue
            if any(is_non_null_type(arg.type) for arg in field.args.values()):
                continue
            named = get_named_type(field.type)
            if not is_leaf_type(named) and depth <= 0:
                continue
            condition = self._condition()
            if is_leaf_type(named):
                parts.append(f"{self._alias(name)}{condition}")
            elif named.name.endswith("Connection"):
                order_by = {"Order": "OrderOrderBy", "Interaction": "InteractionOrderBy"}.get(
                    get_named_type(named.fields["nodes"].type).name
                )
                args = self._page_args(order_by, None)
                parts.append(
                    f"{self._alias(name)}{args}{condition} {{ {self._connection(named, depth - 1)} }}"
                )
            elif isinstance(named, GraphQLObjectType):
                inner = self._selection(named, depth - 1) or "__typename"
                parts.append(f"{self._alias(name)}{condition} {{ {inner} }}")
        if self.random.random() < 0.2 and parts:
            name = f"F{len(self.fragments)}"
            self.fragments.append(f" fragment {name} on {object_type.name} {{ {' '.join(parts)} }}")
            return f"...{name} __typename"
        return " ".join(parts) or "__typename"
