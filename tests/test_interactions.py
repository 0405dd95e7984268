"""Interactions over GraphQL: every channel and direction, listed newest first."""

from __future__ import annotations

from helpers import customer, interaction, ok, refused, rejected

from crm_graph.ids import to_global_id
from crm_graph.testing import GraphQLClient

CHANNELS = ("EMAIL", "PHONE", "CHAT", "SOCIAL", "MEETING", "WEB", "SMS", "OTHER")
LISTING = (
    "query($id: ID!) { customer(id: $id) { interactions(first: 20) "
    "{ totalCount nodes { channel direction subject occurredAt } } } }"
)


def _at(minute: int) -> str:
    return f"2024-05-01T09:{minute:02d}:00+00:00"


async def test_every_channel_and_direction(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    for minute, channel in enumerate(CHANNELS):
        direction = "OUTBOUND" if minute % 2 else "INBOUND"
        logged = await interaction(
            client,
            ada["id"],
            channel,
            direction=direction,
            subject=f" {channel.title()} ",
            body="Hello\nthere",
            occurredAt=_at(minute),
        )
        assert logged["channel"] == channel and logged["direction"] == direction
        assert logged["subject"] == channel.title() and logged["body"] == "Hello\nthere"
        assert logged["customer"]["id"] == ada["id"]
    listed = (await client.data(LISTING, {"id": ada["id"]}))["customer"]["interactions"]
    assert listed["totalCount"] == len(CHANNELS)
    assert [n["channel"] for n in listed["nodes"]] == list(reversed(CHANNELS))

    default = await interaction(client, ada["id"], "CHAT")
    assert default["direction"] == "INBOUND" and default["subject"] is None
    assert default["occurredAt"].endswith("+00:00")
    local = await interaction(client, ada["id"], occurredAt="2024-05-01T11:30:00+02:00")
    assert local["occurredAt"] == "2024-05-01T09:30:00+00:00", "stored and shown in UTC"


async def test_listed_newest_first_per_customer(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    grace = await customer(client, "Grace")
    for minute, subject in ((5, "middle"), (1, "oldest"), (9, "newest")):
        await interaction(client, ada["id"], subject=subject, occurredAt=_at(minute))
    await interaction(client, grace["id"], subject="other", occurredAt=_at(30))
    listed = (await client.data(LISTING, {"id": ada["id"]}))["customer"]["interactions"]
    assert [n["subject"] for n in listed["nodes"]] == ["newest", "middle", "oldest"]
    assert listed["nodes"][0]["occurredAt"] == _at(9)

    top = await client.data(
        "query($id: ID!) { interactions(filter: {customerId: $id, channels: [EMAIL]}, "
        "orderBy: {direction: ASC}) { totalCount nodes { subject } } }",
        {"id": ada["id"]},
    )
    assert top["interactions"]["totalCount"] == 3
    assert [n["subject"] for n in top["interactions"]["nodes"]] == ["oldest", "middle", "newest"]
    window = await client.data(
        f'{{ interactions(filter: {{occurredAfter: "{_at(5)}", occurredBefore: "{_at(30)}"}}) '
        "{ nodes { subject } } }"
    )
    assert [n["subject"] for n in window["interactions"]["nodes"]] == ["newest", "middle"]


async def test_rejections(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    cases = [
        (
            {"customerId": ada["id"], "channel": "SMS", "subject": "s" * 501},
            [("TOO_LONG", "input.subject")],
        ),
        (
            {"customerId": ada["id"], "channel": "SMS", "occurredAt": "2024-05-01T09:30:00"},
            [("INVALID_VALUE", "input.occurredAt")],
        ),
        (
            {"customerId": to_global_id("Customer", 404), "channel": "SMS"},
            [("NOT_FOUND", "input.customerId")],
        ),
        ({"customerId": "###", "channel": "SMS"}, [("INVALID_ID", "input.customerId")]),
    ]
    for input, expected in cases:
        assert await rejected(client, "logInteraction", input) == expected, input
    nul = {"customerId": ada["id"], "channel": "SMS", "body": "a\x00b"}
    assert await refused(client, "logInteraction", nul) == ("INVALID_VALUE", "input.body")
    await ok(client, "deleteCustomer", {"id": ada["id"]})
    assert await rejected(
        client, "logInteraction", {"customerId": ada["id"], "channel": "WEB"}
    ) == [("DELETED", "input.customerId")]
