"""Relay cursor pagination: both directions, every page, ties, nested lists and bad arguments."""

from __future__ import annotations

import base64
import json
from typing import Any

from helpers import customer, line, order, product, query_error

from crm_graph.testing import GraphQLClient

NAMES = ["Cy", "Ann", "Bo", "Ann", "Di", "Bo", "Ann"]
CONNECTION = """{ totalCount edges { cursor node { id } }
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }"""
CUSTOMERS = (
    "query($first: Int, $after: String, $last: Int, $before: String, $orderBy: CustomerOrderBy) "
    "{ customers(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) "
    f"{CONNECTION} }}"
)
CUSTOMER_ORDERS = (
    "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String, "
    "$orderBy: OrderOrderBy) { customer(id: $id) { orders(first: $first, after: $after, "
    f"last: $last, before: $before, orderBy: $orderBy) {CONNECTION} }} }}"
)
ORDERINGS = [
    {"field": "CREATED_AT", "direction": "DESC"},
    {"field": "NAME", "direction": "ASC"},
    {"field": "NAME", "direction": "DESC"},
]


async def _page(client: GraphQLClient, query: str, **variables: Any) -> dict[str, Any]:
    data = await client.data(query, variables)
    return data["customer"]["orders"] if "customer" in data else data["customers"]


async def _walk(
    client: GraphQLClient, query: str, size: int, backward: bool, **fixed: Any
) -> list[str]:
    """Every node ID, page by page in one direction, checking each page's pageInfo."""
    seen: list[str] = []
    cursor = None
    while True:
        if backward:
            page = await _page(client, query, last=size, before=cursor, **fixed)
        else:
            page = await _page(client, query, first=size, after=cursor, **fixed)
        ids = [edge["node"]["id"] for edge in page["edges"]]
        info = page["pageInfo"]
        more = info["hasPreviousPage"] if backward else info["hasNextPage"]
        came_from = info["hasNextPage"] if backward else info["hasPreviousPage"]
        assert came_from is (cursor is not None)
        assert 0 < len(ids) <= size
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]
        seen = ids + seen if backward else seen + ids
        if not more:
            assert page["totalCount"] == len(seen)
            return seen
        assert len(ids) == size
        cursor = info["startCursor"] if backward else info["endCursor"]


async def _everyone(client: GraphQLClient) -> list[str]:
    return [(await customer(client, name))["id"] for name in NAMES]


async def test_forward_and_backward_cover_every_row_once(client: GraphQLClient) -> None:
    await _everyone(client)
    for order_by in ORDERINGS:
        full = [
            e["node"]["id"] for e in (await _page(client, CUSTOMERS, orderBy=order_by))["edges"]
        ]
        assert len(set(full)) == len(NAMES)
        for size in (1, 3):
            assert await _walk(client, CUSTOMERS, size, False, orderBy=order_by) == full
            assert await _walk(client, CUSTOMERS, size, True, orderBy=order_by) == full


async def test_pages_between_cursors_are_exact_and_stable(client: GraphQLClient) -> None:
    ids = (await _everyone(client))[::-1]
    everything = await _page(client, CUSTOMERS)
    cursors = [e["cursor"] for e in everything["edges"]]
    middle = await _page(client, CUSTOMERS, first=2, after=cursors[1])
    assert [e["node"]["id"] for e in middle["edges"]] == ids[2:4]
    before = await _page(client, CUSTOMERS, last=2, before=cursors[5])
    assert [e["node"]["id"] for e in before["edges"]] == ids[3:5]
    assert before["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": True,
        "startCursor": cursors[3],
        "endCursor": cursors[4],
    }
    empty = await _page(client, CUSTOMERS, first=5, after=cursors[-1])
    assert empty["edges"] == [] and empty["pageInfo"]["hasNextPage"] is False
    assert empty["pageInfo"]["startCursor"] is None

    await customer(client, "Newcomer")  # sorts before every cursor taken so far
    again = await _page(client, CUSTOMERS, first=3, after=cursors[2])
    assert [e["node"]["id"] for e in again["edges"]] == ids[3:6]
    assert again["totalCount"] == len(NAMES) + 1


async def test_nested_orders_paginate_by_total_and_date(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    other = await customer(client, "Other")
    pen = await product(client, "PEN", "1.00")
    for quantity in (3, 1, 4, 1, 5, 9, 2):
        await order(client, ada["id"], [line(pen["id"], quantity)])
    await order(client, other["id"], [line(pen["id"], 6)])
    for order_by in (None, {"field": "TOTAL", "direction": "ASC"}, {"field": "TOTAL"}):
        fixed = {"id": ada["id"], "orderBy": order_by}
        full = [e["node"]["id"] for e in (await _page(client, CUSTOMER_ORDERS, **fixed))["edges"]]
        assert len(full) == 7
        for size in (2, 3):
            assert await _walk(client, CUSTOMER_ORDERS, size, False, **fixed) == full
            assert await _walk(client, CUSTOMER_ORDERS, size, True, **fixed) == full


async def test_default_and_largest_page_sizes(client: GraphQLClient) -> None:
    for index in range(21):
        await customer(client, f"C{index}")
    page = await _page(client, CUSTOMERS)
    assert len(page["edges"]) == 20 and page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == 21
    largest = await _page(client, CUSTOMERS, last=100)
    assert len(largest["edges"]) == 21 and largest["pageInfo"]["hasPreviousPage"] is False
    zero = await _page(client, CUSTOMERS, first=0)
    assert zero["edges"] == [] and zero["pageInfo"]["hasNextPage"] is True


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _bad_cursors(ordering: str) -> list[str]:
    """Cursors a client could forge for a list sorted by ``ordering`` (a datetime, then id)."""
    when = "2024-01-01T00:00:00+00:00"
    return [
        "garbage!",
        "e30",  # {}
        _cursor([1, 2]),
        _cursor({"o": ordering, "v": [1, 1]}),
        _cursor({"o": ordering, "v": ["2024-01-01", 1]}),  # naive datetime
        _cursor({"o": ordering, "v": [when]}),
        _cursor({"o": ordering, "v": [when, "1"]}),
        _cursor({"o": ordering, "v": [when, 1, 2]}),
        _cursor({"v": [when, 1]}),
        _cursor({"o": ordering, "v": [when, 10**30]}),  # past any key: SQL would overflow
        base64.urlsafe_b64encode(b"[" * 100_000).decode(),  # nested past the parser's stack
    ]


async def test_bad_paging_arguments(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    await customer(client, "Bo")
    by_name = await _page(client, CUSTOMERS, first=1, orderBy={"field": "NAME", "direction": "ASC"})
    of_another_list = by_name["pageInfo"]["endCursor"]
    sizes = [
        ({"first": 101}, ("PAGE_SIZE_TOO_LARGE", "first")),
        ({"last": 101}, ("PAGE_SIZE_TOO_LARGE", "last")),
        ({"first": -1}, ("INVALID_ARGUMENT", "first")),
        ({"first": 1, "last": 1}, ("INVALID_ARGUMENT", "first")),
    ]
    lists = [
        (CUSTOMERS, {}, "customer.created_at.desc"),
        (CUSTOMER_ORDERS, {"id": ada["id"]}, "order.placed_at.desc"),
    ]
    for query, fixed, ordering in lists:
        for variables, expected in sizes:
            assert await query_error(client, query, {**fixed, **variables}) == expected
        for cursor in [of_another_list, *_bad_cursors(ordering)]:
            after = {**fixed, "after": cursor}
            assert await query_error(client, query, after) == ("INVALID_CURSOR", "after"), cursor
            before = {**fixed, "last": 2, "before": cursor}
            assert await query_error(client, query, before) == ("INVALID_CURSOR", "before")
