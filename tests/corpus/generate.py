"""Generate tests/corpus/hostile.jsonl: hostile GraphQL requests against the composed schema.

Run from the repository root: ``.venv/bin/python tests/corpus/generate.py``. Deterministic.
Each line: {"name", "body"} where body is the exact HTTP request body (a JSON document, or a raw
string for malformed and batched bodies).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
)

from crm_graph.plugins_manager import create_plugin_manager
from crm_graph.schema.build import build_schema
from crm_graph.settings import Settings

OUT = Path(__file__).with_name("hostile.jsonl")

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE customer; --",
    '" OR ""="',
    "1; SELECT pg_sleep(5)--",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "${jndi:ldap://127.0.0.1/a}",
    "../../../../etc/passwd",
    "\x00",
    "a\x00b",
    "%00",
    "\ud83d\ude00" * 3,
    "\u202e\u0000",
    "x" * 10_000,
    "",
    " ",
    "Q3VzdG9tZXI6LTE",
]


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


FORGED_IDS = [
    b64("Customer:-1"),
    b64("Customer:0"),
    b64("Customer:99999999999999999999999"),
    b64("Customer:1 OR 1=1"),
    b64("Product:1"),
    b64("Order:abc"),
    b64("NoSuchType:1"),
    b64("__proto__:1"),
    b64(":1"),
    "%%%",
    "",
    "=" * 50,
]


def doc(query: str, variables: dict | None = None) -> str:
    return json.dumps({"query": query, "variables": variables or {}})


def scalar_literal(type_name: str) -> str | None:
    return {
        "String": '"x"',
        "ID": f'"{b64("Customer:1")}"',
        "Int": "1",
        "Float": "1.5",
        "Boolean": "true",
    }.get(type_name)


def required_args_literal(field) -> str:
    parts = []
    for name, arg in field.args.items():
        if isinstance(arg.type, GraphQLNonNull):
            literal = placeholder(arg.type)
            if literal is not None:
                parts.append(f"{name}: {literal}")
    return f"({', '.join(parts)})" if parts else ""


def placeholder(gql_type, depth: int = 0) -> str | None:
    named = get_named_type(gql_type)
    inner = gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type
    if isinstance(inner, GraphQLList):
        value = placeholder(inner.of_type, depth)
        return f"[{value}]" if value is not None else "[]"
    if isinstance(named, GraphQLScalarType):
        return scalar_literal(named.name) or '"x"'
    if isinstance(named, GraphQLInputObjectType) and depth < 3:
        fields = [
            f"{n}: {placeholder(f.type, depth + 1)}"
            for n, f in named.fields.items()
            if isinstance(f.type, GraphQLNonNull)
        ]
        return "{" + ", ".join(fields) + "}"
    if hasattr(named, "values"):
        return next(iter(named.values))
    return None


def selection(gql_type, depth: int = 0) -> str:
    named = get_named_type(gql_type)
    if not hasattr(named, "fields") or isinstance(named, GraphQLInputObjectType):
        return ""
    if depth > 1:
        return "{ __typename }"
    leaves = [
        n
        for n, f in named.fields.items()
        if not hasattr(get_named_type(f.type), "fields") and not f.args
    ]
    nested = [
        f"{n} {selection(f.type, depth + 1)}"
        for n, f in named.fields.items()
        if hasattr(get_named_type(f.type), "fields")
        and not any(isinstance(a.type, GraphQLNonNull) for a in f.args.values())
    ][:2]
    return "{ " + " ".join(["__typename", *leaves[:6], *nested]) + " }"


def string_arg_paths(gql_type, prefix: str, depth: int = 0):
    """Yield (path, build) for every String/ID leaf inside an argument type."""
    named = get_named_type(gql_type)
    if isinstance(named, GraphQLScalarType) and named.name in (
        "String",
        "ID",
        "JSON",
        "Decimal",
        "DateTime",
    ):
        yield prefix, named.name
    elif isinstance(named, GraphQLInputObjectType) and depth < 3:
        for name, f in named.fields.items():
            yield from string_arg_paths(f.type, f"{prefix}.{name}", depth + 1)


def injection_cases(schema) -> list[tuple[str, str]]:
    """Every string argument of every Query/Mutation field gets every injection string."""
    cases = []
    for root_name, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        for field_name, field in root.fields.items():
            for arg_name, arg in field.args.items():
                for path, _kind in string_arg_paths(arg.type, arg_name):
                    for index, payload in enumerate(INJECTIONS):
                        variables = {"v": payload}
                        var_decl, value = _variable_at(arg, path, field)
                        if var_decl is None:
                            continue
                        query = f"{root_name}($v: String) {{ {field_name}({value}) {selection(field.type)} }}"
                        query = query.replace("$v: String", var_decl)
                        cases.append(
                            (
                                f"inject {root_name}.{field_name}.{path} #{index}",
                                doc(query, variables),
                            )
                        )
    return cases


def _variable_at(arg, path: str, field) -> tuple[str | None, str]:
    """Build the argument list with ``$v`` placed at ``path`` and placeholders elsewhere."""
    parts = path.split(".")
    others = {
        n: a for n, a in field.args.items() if n != parts[0] and isinstance(a.type, GraphQLNonNull)
    }
    rendered = [f"{n}: {placeholder(a.type)}" for n, a in others.items()]
    named = get_named_type(arg.type)
    if len(parts) == 1:
        kind = named.name if isinstance(named, GraphQLScalarType) else "String"
        if isinstance(arg.type, GraphQLNonNull) or isinstance(
            getattr(arg.type, "of_type", None), GraphQLList
        ):
            pass
        if isinstance(get_named_type(arg.type), GraphQLScalarType) and not isinstance(
            arg.type.of_type if isinstance(arg.type, GraphQLNonNull) else arg.type, GraphQLList
        ):
            return f"$v: {kind}", ", ".join([*rendered, f"{parts[0]}: $v"])
        return None, ""
    # Nested input: build the object literal with required fields, putting $v at the path.
    literal = _object_with_variable(arg.type, parts[1:])
    if literal is None:
        return None, ""
    leaf = _leaf_type(arg.type, parts[1:])
    return f"$v: {leaf}", ", ".join([*rendered, f"{parts[0]}: {literal}"])


def _leaf_type(gql_type, path: list[str]) -> str:
    named = get_named_type(gql_type)
    for part in path:
        named = get_named_type(named.fields[part].type)
    return named.name


def _object_with_variable(gql_type, path: list[str]) -> str | None:
    named = get_named_type(gql_type)
    inner = gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type
    is_list = isinstance(inner, GraphQLList)
    if not isinstance(named, GraphQLInputObjectType):
        return None
    head, rest = path[0], path[1:]
    items = []
    for name, f in named.fields.items():
        if name == head:
            if rest:
                nested = _object_with_variable(f.type, rest)
                if nested is None:
                    return None
                items.append(f"{name}: {nested}")
            else:
                f_inner = f.type.of_type if isinstance(f.type, GraphQLNonNull) else f.type
                if isinstance(f_inner, GraphQLList):
                    items.append(f"{name}: [$v]")
                else:
                    items.append(f"{name}: $v")
        elif isinstance(f.type, GraphQLNonNull):
            items.append(f"{name}: {placeholder(f.type)}")
    literal = "{" + ", ".join(items) + "}"
    return f"[{literal}]" if is_list else literal


def structural_cases() -> list[tuple[str, str]]:
    cases: list[tuple[str, str]] = []
    nest = "customer { id }"
    for depth in (13, 20, 50, 200):
        inner = nest
        for _ in range(depth):
            inner = f"orders {{ nodes {{ customer {{ {inner} }} }} }}"
        cases.append((f"deep nesting {depth}", doc(f"{{ customers {{ nodes {{ {inner} }} }} }}")))
    cases.append(
        (
            "fragment cycle",
            doc(
                "{ customers { nodes { ...A } } } fragment A on Customer { ...B } fragment B on Customer { ...A }"
            ),
        )
    )
    cases.append(
        (
            "self fragment",
            doc("{ customers { nodes { ...A } } } fragment A on Customer { name ...A }"),
        )
    )
    for count in (16, 100, 1000):
        aliases = " ".join(f"a{i}: customers {{ totalCount }}" for i in range(count))
        cases.append((f"alias flood {count}", doc(f"{{ {aliases} }}")))
    frag_aliases = " ".join(f"f{i}: name" for i in range(20))
    cases.append(
        (
            "aliases in fragment",
            doc(
                f"{{ customers {{ nodes {{ ...F }} }} }} fragment F on Customer {{ {frag_aliases} }}"
            ),
        )
    )
    cases.append(("token flood", doc("{ customers { nodes { " + "id " * 5000 + "} } }")))
    cases.append(
        (
            "cost bomb",
            doc(
                "{ customers(first: 100) { nodes { orders(first: 100) { nodes { lines { product { name } } } } interactions(first: 100) { nodes { body } } } } }"
            ),
        )
    )
    cases.append(
        (
            "huge string literal",
            doc('{ customers(filter: {search: "' + "a" * 200_000 + '"}) { totalCount } }'),
        )
    )
    cases.append(("nul in document", doc("{ customers { totalCount \u0000 } }")))
    cases.append(("unterminated", doc('{ customers(filter: {search: "abc) { totalCount } }')))
    cases.append(("empty document", doc("")))
    cases.append(("only comment", doc("# nothing")))
    cases.append(("unknown field", doc("{ secrets { password } }")))
    cases.append(
        (
            "unknown operation name",
            json.dumps({"query": "query A { customers { totalCount } }", "operationName": "B"}),
        )
    )
    cases.append(
        (
            "two anonymous operations",
            doc("{ customers { totalCount } } { products { totalCount } }"),
        )
    )
    cases.append(("subscription over http", doc("subscription { __typename }")))
    cases.append(
        (
            "introspection deep",
            doc(
                "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }"
            ),
        )
    )
    # Wrong types
    for query, variables in [
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": "ten"}),
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": 2**40}),
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": -5}),
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": 1.5}),
        (
            "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
            {"f": "not an object"},
        ),
        (
            "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
            {"f": {"createdAfter": "yesterday"}},
        ),
        (
            "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
            {"f": {"lifecycleStages": ["GOD"]}},
        ),
        (
            "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
            {"f": {"tags": [None]}},
        ),
        ("query($a: String) { customers(after: $a) { totalCount } }", {"a": "garbage"}),
        (
            "query($a: String) { customers(after: $a) { totalCount } }",
            {"a": b64('{"o":"customer.created_at.desc","v":["x",1]}')},
        ),
        (
            "query($a: String) { customers(after: $a) { totalCount } }",
            {"a": b64('{"o":"customer.created_at.desc","v":[1]}')},
        ),
        (
            "query($a: String) { customers(after: $a) { totalCount } }",
            {"a": b64('{"o":"order.total.asc","v":["1",1]}')},
        ),
        ("{ customers(first: 10, last: 10) { totalCount } }", {}),
        ("{ customers(first: 101) { totalCount } }", {}),
        ("{ customers(last: 100000) { totalCount } }", {}),
        ('{ customer(id: "x", externalId: "y") { id } }', {}),
        ("{ customer { id } }", {}),
        ("{ nodes(ids: [" + ",".join(['"x"'] * 150) + "]) { id } }", {}),
    ]:
        cases.append(
            (f"wrong type {query[:40]} {list(variables.values())[:1]!s:.30}", doc(query, variables))
        )
    for forged in FORGED_IDS:
        cases.append(
            (
                f"forged node id {forged[:20]}",
                doc("query($id: ID!) { node(id: $id) { id } }", {"id": forged}),
            )
        )
        cases.append(
            (
                f"forged customer id {forged[:20]}",
                doc("query($id: ID) { customer(id: $id) { id name } }", {"id": forged}),
            )
        )
        cases.append(
            (
                f"forged update id {forged[:20]}",
                doc(
                    'mutation($id: ID!) { updateCustomer(input: {id: $id, name: "x"}) { errors { code field } } }',
                    {"id": forged},
                ),
            )
        )
        cases.append(
            (
                f"forged order line product {forged[:20]}",
                doc(
                    "mutation($c: ID!, $p: ID!) { placeOrder(input: {customerId: $c, lines: [{productId: $p, quantity: 1}]}) { errors { code field } } }",
                    {"c": forged, "p": forged},
                ),
            )
        )
    # Raw bodies: batching, malformed JSON, wrong shapes, oversized.
    raw = [
        ("batch array", json.dumps([{"query": "{ customers { totalCount } }"}] * 3)),
        (
            "batch of mutations",
            json.dumps(
                [{"query": 'mutation { createCustomer(input: {name: "x"}) { errors { code } } }'}]
                * 2
            ),
        ),
        ("malformed json", '{"query": "{ customers { totalCount } }"'),
        ("json string", '"{ customers { totalCount } }"'),
        ("json null", "null"),
        ("json number", "42"),
        ("query not string", json.dumps({"query": 42})),
        (
            "variables not object",
            json.dumps({"query": "{ customers { totalCount } }", "variables": [1, 2]}),
        ),
        (
            "oversized body",
            json.dumps(
                {"query": "{ customers { totalCount } }", "variables": {"x": "y" * 1_200_000}}
            ),
        ),
        ("deeply nested json", "[" * 10_000 + "]" * 10_000),
        ("invalid utf8", "\udcff"),
    ]
    cases.extend(raw)
    return cases


def main() -> None:
    settings = Settings(disabled_plugins=["loyalty"])
    schema = build_schema(create_plugin_manager(settings))._schema
    cases = structural_cases() + injection_cases(schema)
    with OUT.open("w") as out:
        for name, body in cases:
            out.write(json.dumps({"name": name, "body": body}) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
