"""Audience segments of the marketing plugin, over GraphQL on SQLite and PostgreSQL: static
lists, dynamic segments whose filter tree is one SQL query, user errors naming the path,
materialised membership with segment.entered / segment.left, and permissions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import crm_analytics
import crm_marketing
from crm_graph.db.engine import create_engine
from crm_graph.db.migrate import differences, upgrade
from crm_graph.plugins_manager import create_plugin_manager
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, count_statements, run_cli
from tests.helpers import snapshot
from tests.io_support import rejects, write
from tests.marketing_support import (
    condition,
    create_segment,
    customer,
    events_of,
    order,
    preview_names,
    product,
    size,
)
from tests.smtp_support import eventually


@pytest.fixture
async def marketing(settings: Settings) -> AsyncIterator[GraphQLClient]:
    limited = settings.model_copy(
        update={
            "roles": {
                "marketer": ["segments:read", "segments:write", "customers:read"],
                "outsider": ["customers:read"],
            }
        }
    )
    async with app_client(limited, plugins=[crm_marketing]) as client:
        yield client


def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


async def shop(client: GraphQLClient) -> dict[str, str]:
    """Five customers with tags, attributes and orders of various ages, statuses, currencies."""
    widget = await product(client, "W-1", "40")
    euro = await product(client, "E-1", "500", "EUR")
    people = {
        "Ada": await customer(
            client,
            "Ada",
            email="ada@example.com",
            lifecycleStage="CUSTOMER",
            tags=["vip", "newsletter"],
            attributes={"plan": "gold", "seats": 12, "beta": True},
        ),
        "Bob": await customer(
            client,
            "Bob",
            email="bob@shop.example",
            tags=["newsletter"],
            attributes={"plan": "free", "seats": "many"},
        ),
        "Cy": await customer(client, "Cy", lifecycleStage="CUSTOMER", attributes={"seats": 3}),
        "Di": await customer(client, "Di", email="di@example.com", tags=["vip"]),
        "Ed": await customer(client, "Ed", lifecycleStage="CHURNED"),
    }
    await order(client, people["Ada"], widget, 2, placed_at=days_ago(5))  # 80 USD, recent
    await order(client, people["Ada"], widget, 1, placed_at=days_ago(100))  # 40 USD, old
    await order(client, people["Cy"], widget, 5, placed_at=days_ago(10))  # 200 USD
    await order(client, people["Di"], widget, 9, status="REFUNDED", placed_at=days_ago(3))
    await order(client, people["Di"], widget, 1, status=None, placed_at=days_ago(2))  # pending
    await order(client, people["Ed"], euro, 1, placed_at=days_ago(20), currency="EUR")
    return people


async def test_a_filter_tree_over_fields_tags_attributes_and_orders_is_one_query(
    marketing: GraphQLClient,
) -> None:
    await shop(marketing)
    tree = {
        "or": [
            {
                "and": [
                    condition("lifecycleStage", "eq", "CUSTOMER"),
                    condition("orders.count", "gte", 1, days=30),
                    condition("orders.totalSpent", "gt", 100),
                ]
            },
            {
                "and": [
                    condition("tags", "contains", "vip"),
                    {"not": condition("email", "endsWith", "@example.com")},
                ]
            },
            condition("attributes.plan", "eq", "free"),
            condition("orders.totalSpent", "gte", 500, currency="EUR"),
        ]
    }
    made = await create_segment(marketing, name="Engaged", kind="DYNAMIC", filter=tree)
    assert made["errors"] == []
    segment = made["segment"]
    # Ada: customer, an order in 30 days, 120 USD in all. Cy: 200 USD. Bob: plan free.
    # Di: vip but an example.com address. Ed: 500 EUR.
    assert segment["size"] == 4
    assert await preview_names(marketing, segment["id"]) == ["Ada", "Bob", "Cy", "Ed"]
    assert segment["filter"]["or"][0]["and"][0] == condition("lifecycleStage", "eq", "customer")

    with count_statements(marketing.app) as statements:
        await preview_names(marketing, segment["id"])
    matching = [s for s in statements if "customer" in s.lower() and '"order"' in s.lower()]
    assert len(matching) == 1, statements  # one SELECT holds the whole tree


OPERATOR_CASES = [
    (condition("attributes.seats", "gt", 5), ["Ada"]),  # Bob's "many" is no number
    (condition("attributes.beta", "eq", True), ["Ada"]),
    ({"not": condition("attributes.plan", "exists")}, ["Cy", "Di", "Ed"]),
    (condition("attributes.plan", "neq", "gold"), ["Bob", "Cy", "Di", "Ed"]),
    (condition("tags", "containsAny", ["vip", "newsletter"]), ["Ada", "Bob", "Di"]),
    ({"not": condition("tags", "contains", "vip")}, ["Bob", "Cy", "Ed"]),
    (condition("orders.count", "eq", 0), ["Bob", "Di"]),  # refunded and pending: no purchase
    (condition("orders.lastOrderedAt", "notInLastDays", 30), ["Bob", "Di"]),
    (condition("orders.lastOrderedAt", "inLastDays", 7), ["Ada"]),
    (condition("orders.count", "gte", 2), ["Ada"]),
    (condition("email", "notExists"), ["Cy", "Ed"]),
    (condition("lifecycleStage", "in", ["CHURNED", "LEAD"]), ["Bob", "Di", "Ed"]),
    (condition("createdAt", "after", "2000-01-01"), ["Ada", "Bob", "Cy", "Di", "Ed"]),
]


async def test_each_operator_means_what_it_says(marketing: GraphQLClient) -> None:
    await shop(marketing)
    for index, (tree, names) in enumerate(OPERATOR_CASES):
        made = await create_segment(marketing, name=f"S{index}", kind="DYNAMIC", filter=tree)
        assert made["errors"] == [], (tree, made["errors"])
        assert await preview_names(marketing, made["segment"]["id"]) == names, tree


async def test_unknown_fields_and_operators_are_user_errors_naming_the_path(
    marketing: GraphQLClient,
) -> None:
    await shop(marketing)
    before = await snapshot(marketing)
    tree = {
        "and": [
            condition("shoeSize", "eq", "42"),
            {"or": [condition("email", "resembles", "x"), condition("orders.count", "gt", "lots")]},
            {"not": condition("analytics.churnBand", "eq", "HIGH")},
            condition("tags", "contains", "vip", days=3),
        ]
    }
    made = await create_segment(marketing, name="Bad", kind="DYNAMIC", filter=tree)
    assert made["segment"] is None
    assert [(e["code"], ".".join(e["field"])) for e in made["errors"]] == [
        ("UNKNOWN_FIELD", "input.filter.and.0.condition.field"),
        ("UNKNOWN_OPERATOR", "input.filter.and.1.or.0.condition.operator"),
        ("INVALID_VALUE", "input.filter.and.1.or.1.condition.value"),
        ("UNKNOWN_FIELD", "input.filter.and.2.not.condition.field"),  # no analytics plugin
        ("INVALID_VALUE", "input.filter.and.3.condition.days"),
    ]
    assert "analytics plugin" in made["errors"][3]["message"]
    both = await create_segment(
        marketing,
        name="Both",
        kind="DYNAMIC",
        filter={"and": [], "condition": condition("email", "exists")["condition"]},
    )
    assert [(e["code"], e["field"]) for e in both["errors"]] == [
        ("INVALID_FILTER", ["input", "filter"])
    ]
    assert await snapshot(marketing) == before


async def test_analytics_outputs_are_fields_when_that_plugin_is_installed(
    settings: Settings,
) -> None:
    async with app_client(settings, plugins=[crm_marketing, crm_analytics]) as client:
        await customer(client, "Ada")
        tree = {
            "or": [
                condition("analytics.churnBand", "eq", "HIGH"),
                condition("analytics.predictedValue", "gt", 10),
            ]
        }
        made = await create_segment(client, name="At risk", kind="DYNAMIC", filter=tree)
        assert made["errors"] == []
        assert made["segment"]["size"] == 0  # nobody is scored before training


async def test_membership_follows_events_and_announces_entries_and_departures(
    marketing: GraphQLClient,
) -> None:
    people = await shop(marketing)
    made = await create_segment(
        marketing, name="VIP", kind="DYNAMIC", filter=condition("tags", "contains", "vip")
    )
    segment = made["segment"]
    assert segment["size"] == 2 and segment["refreshedAt"] is not None
    entered = await events_of(marketing, "segment.entered")
    assert sorted(e["entityId"] for e in entered) == sorted([people["Ada"], people["Di"]])
    assert entered[0]["payload"] == {"segmentId": segment["id"], "segmentName": "VIP"}

    update = "mutation ($input: UpdateCustomerInput!) { updateCustomer(input: $input) { errors { code } } }"
    await marketing.data(update, {"input": {"id": people["Bob"], "tags": ["vip"]}})
    await marketing.data(update, {"input": {"id": people["Ada"], "tags": []}})

    async def moved() -> bool:
        return (
            await preview_names(marketing, segment["id"]) == ["Bob", "Di"]
            and await size(marketing, segment["id"]) == 2
        )

    await eventually(moved, timeout=20)
    left = await eventually(lambda: events_of(marketing, "segment.left"), timeout=20)
    assert [e["entityId"] for e in left] == [people["Ada"]]
    assert [e["entityId"] for e in await events_of(marketing, "segment.entered")][-1] == people[
        "Bob"
    ]


async def test_static_lists_take_ids_and_addresses_all_or_nothing(
    marketing: GraphQLClient,
) -> None:
    people = await shop(marketing)
    made = await create_segment(marketing, name="Trade show", kind="STATIC")
    list_id = made["segment"]["id"]
    members = (
        "mutation ($input: AudienceSegmentMembersInput!) { %s(input: $input)"
        " { segment { size } errors { code field } } }"
    )
    add = members % "addAudienceSegmentMembers"
    bad = await marketing.data(
        add,
        {
            "input": {
                "segmentId": list_id,
                "customers": [people["Cy"], "nobody@example.com", "junk"],
            }
        },
    )
    assert bad["addAudienceSegmentMembers"]["errors"] == [
        {"code": "INVALID_ID", "field": ["input", "customers", "2"]},
        {"code": "NOT_FOUND", "field": ["input", "customers", "1"]},
    ]
    assert await size(marketing, list_id) == 0
    good = await marketing.data(
        add,
        {
            "input": {
                "segmentId": list_id,
                "customers": [people["Cy"], "BOB@shop.example", people["Cy"]],
            }
        },
    )
    assert good["addAudienceSegmentMembers"] == {"segment": {"size": 2}, "errors": []}
    assert await preview_names(marketing, list_id) == ["Bob", "Cy"]
    removed = await marketing.data(
        members % "removeAudienceSegmentMembers",
        {"input": {"segmentId": list_id, "customers": [people["Cy"]]}},
    )
    assert removed["removeAudienceSegmentMembers"]["segment"] == {"size": 1}
    assert [e["type"] for e in await events_of(marketing, "segment.entered", "segment.left")] == [
        "segment.entered",
        "segment.entered",
        "segment.left",
    ]
    dynamic = await create_segment(
        marketing, name="D", kind="DYNAMIC", filter=condition("email", "exists")
    )
    refused = await marketing.data(
        add, {"input": {"segmentId": dynamic["segment"]["id"], "customers": [people["Cy"]]}}
    )
    assert refused["addAudienceSegmentMembers"]["errors"] == [
        {"code": "NOT_STATIC", "field": ["input", "segmentId"]}
    ]


async def test_a_file_of_ids_and_addresses_is_imported_onto_static_lists(
    marketing: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    """``crm-graph import segment_members``: each row a list (name or ID) and a customer (ID
    or e-mail); rejected rows with their row number; importing again adds nobody twice."""
    people = await shop(marketing)
    trade = (await create_segment(marketing, name="Trade show", kind="STATIC"))["segment"]["id"]
    await create_segment(marketing, name="D", kind="DYNAMIC", filter=condition("email", "exists"))
    path = write(
        tmp_path / "members.csv",
        f"""
        segment,customer
        Trade show,BOB@shop.example
        {trade},{people["Cy"]}
        Trade show,nobody@example.com
        Nowhere,{people["Cy"]}
        D,{people["Cy"]}
        Trade show,junk
        ,{people["Cy"]}
        Trade show,{people["Cy"]}
        """,
    )
    url = settings.database_url
    result = await run_cli(url, "import", "segment_members", str(path), plugins="marketing")
    assert "segment_members: 2 inserted, 0 updated, 1 unchanged; 5 rows rejected" in result.output
    assert rejects(path) == {
        4: "customer: no such live customer",
        5: "segment: no such list",
        6: "segment: members of a dynamic segment follow its filter",
        7: "customer: 'junk' is not a valid ID",
        8: "segment: must not be empty",
    }
    assert await preview_names(marketing, trade) == ["Bob", "Cy"]
    entered = await events_of(marketing, "segment.entered")
    assert sorted(e["entityId"] for e in entered if e["payload"]["segmentName"] != "D") == sorted(
        [people["Bob"], people["Cy"]]
    )
    again = await run_cli(url, "import", "segment_members", str(path), plugins="marketing")
    assert "segment_members: 0 inserted, 0 updated, 3 unchanged; 5 rows rejected" in again.output
    exported = await run_cli(url, "export", "segment_members", plugins="marketing")
    assert exported.output.splitlines()[-3:] == [
        "segment,customer",
        *sorted(f"Trade show,{people[n]}" for n in ("Bob", "Cy")),
    ]


async def test_permissions_and_personal_data_in_filters(marketing: GraphQLClient) -> None:
    await shop(marketing)
    marketer = marketing.acting_as("marketer")  # segments:*, without pii:read
    by_email = await create_segment(
        marketer, name="E", kind="DYNAMIC", filter=condition("email", "endsWith", "@example.com")
    )
    assert [(e["code"], e["field"]) for e in by_email["errors"]] == [
        ("FORBIDDEN", ["input", "filter", "condition", "field"])
    ]
    has_email = await create_segment(
        marketer, name="E", kind="DYNAMIC", filter=condition("email", "exists")
    )
    assert has_email["segment"]["size"] == 3
    outsider = marketing.acting_as("outsider")
    answer = await outsider.execute("{ audienceSegments { name } }")
    assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"


FILTER_PREVIEW = """query ($filter: AudienceFilterInput!, $first: Int!) {
  audienceFilterPreview(filter: $filter, first: $first) {
    size preview { name email } errors { code message field } } }"""
SAVED_PREVIEW = """query ($id: ID!, $first: Int!) {
  audienceSegment(id: $id) { size preview(first: $first) { name email } } }"""


async def test_an_unsaved_filter_shows_what_saving_it_would_hold_or_its_errors(
    marketing: GraphQLClient,
) -> None:
    await shop(marketing)
    marketer = marketing.acting_as("marketer")  # segments:*, without pii:read
    # The marketer does not read orders, yet a filter counts them, as where it is saved.
    tree = {"or": [condition("tags", "contains", "vip"), condition("orders.count", "gte", 1)]}
    before = await snapshot(marketing)
    trials = {
        who: (await client.data(FILTER_PREVIEW, {"filter": tree, "first": 2}))[
            "audienceFilterPreview"
        ]
        for who, client in (("admin", marketing), ("marketer", marketer))
    }
    assert await snapshot(marketing) == before  # evaluated, not saved
    saved = (await create_segment(marketing, name="Tried", kind="DYNAMIC", filter=tree))["segment"]
    for who, client in (("admin", marketing), ("marketer", marketer)):
        segment = (await client.data(SAVED_PREVIEW, {"id": saved["id"], "first": 2}))[
            "audienceSegment"
        ]
        # Ada and Di (vip), Ada, Cy and Ed (purchases): the same size and first members, for
        # a caller without orders:read too, masked alike for a caller without pii:read.
        assert trials[who] == {**segment, "errors": []}, who
        assert trials[who]["size"] == 4
    assert [c["name"] for c in trials["admin"]["preview"]] == ["Ada", "Cy"]
    assert trials["admin"]["preview"][0]["email"] == "ada@example.com"
    assert trials["marketer"]["preview"][0]["email"] != "ada@example.com"

    # A filter saving would refuse: the same user errors, at their path under `filter`.
    bad = {
        "and": [
            condition("shoeSize", "eq", "42"),
            {"not": condition("orders.count", "gt", "lots")},
            condition("email", "endsWith", "@example.com"),
        ]
    }
    refused = (await create_segment(marketer, name="Bad", kind="DYNAMIC", filter=bad))["errors"]
    tried = (await marketer.data(FILTER_PREVIEW, {"filter": bad, "first": 5}))[
        "audienceFilterPreview"
    ]
    assert tried == {
        "size": None,
        "preview": [],
        "errors": [{**e, "field": e["field"][1:]} for e in refused],
    }
    assert [(e["code"], ".".join(e["field"])) for e in tried["errors"]] == [
        ("UNKNOWN_FIELD", "filter.and.0.condition.field"),
        ("INVALID_VALUE", "filter.and.1.not.condition.value"),
        ("FORBIDDEN", "filter.and.2.condition.field"),  # personal data without pii:read
    ]

    too_many = await marketing.execute(FILTER_PREVIEW, {"filter": tree, "first": 101})
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"
    outsider = await marketing.acting_as("outsider").execute(
        FILTER_PREVIEW, {"filter": tree, "first": 5}
    )
    assert outsider["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_marketing_migrations_match_its_tables(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        plugins = create_plugin_manager(
            Settings(database_url=database_url, plugins=["marketing"]), plugins=[crm_marketing]
        )
        await upgrade(engine, plugins)
        assert await differences(engine, plugins) == []
    finally:
        await engine.dispose()
