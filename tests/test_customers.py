"""Customers over GraphQL: lifecycle, upsert, lookups, lists, normalisation and conflicts."""

from __future__ import annotations

import pytest
from helpers import (
    customer,
    customer_ids,
    mutate,
    ok,
    query_error,
    refused,
    rejected,
    snapshot,
)

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

LOOKUP = (
    "query($id: ID, $ext: String) { customer(id: $id, externalId: $ext) { id name deletedAt } }"
)


async def test_create_normalises_then_update_changes_only_given_fields(
    client: GraphQLClient,
) -> None:
    created = await customer(
        client,
        "  Ada Lovelace ",
        externalId="crm-1",
        email="  Ada.Lovelace@Example.COM ",
        phone="(415) 555-0123",
        company="Analytical Engines",
        lifecycleStage="PROSPECT",
        tags=["vip", "london", "vip"],
        attributes={"shoeSize": 38, "newsletter": True, "source": "fair"},
    )
    assert created["name"] == "Ada Lovelace"
    assert created["email"] == "ada.lovelace@example.com"
    assert created["phone"] == "+14155550123", "the default region is US"
    assert created["lifecycleStage"] == "PROSPECT"
    assert created["tags"] == ["vip", "london"]
    assert created["attributes"] == {"shoeSize": 38, "newsletter": True, "source": "fair"}
    assert created["version"] == 1 and created["deletedAt"] is None
    assert created["createdAt"].endswith("+00:00")
    fields = " ".join(created)
    fetched = await client.data(f"query($id: ID!) {{ customer(id: $id) {{ {fields} }} }}", created)
    assert fetched["customer"] == created

    change = {"id": created["id"], "company": "ACME", "tags": [], "expectedVersion": 1}
    updated = (await ok(client, "updateCustomer", change))["customer"]
    assert updated["company"] == "ACME" and updated["tags"] == []
    assert updated["email"] == created["email"] and updated["attributes"] == created["attributes"]
    assert updated["version"] == 2 and updated["updatedAt"] > created["updatedAt"]
    replaced = {"id": created["id"], "email": None, "attributes": {"y": "two"}}
    cleared = (await ok(client, "updateCustomer", replaced))["customer"]
    assert cleared["email"] is None and cleared["attributes"] == {"y": "two"}
    assert cleared["version"] == 3

    minimal = await customer(client, "Grace")
    assert minimal["lifecycleStage"] == "LEAD"
    assert minimal["tags"] == [] and minimal["attributes"] == {}
    assert minimal["email"] is None and minimal["phone"] is None and minimal["externalId"] is None


async def test_stale_expected_version_is_a_conflict_and_writes_nothing(
    client: GraphQLClient,
) -> None:
    created = await customer(client, "Ada")
    await ok(client, "updateCustomer", {"id": created["id"], "company": "First"})
    stale = {"id": created["id"], "company": "Second", "expectedVersion": 1}
    conflict = [("CONFLICT", "input.expectedVersion")]
    assert await rejected(client, "updateCustomer", stale) == conflict
    assert await rejected(
        client, "deleteCustomer", {"id": created["id"], "expectedVersion": 1}
    ) == (conflict)


async def test_soft_delete_hides_and_restore_brings_back(client: GraphQLClient) -> None:
    kept = await customer(client, "Kept")
    gone = await customer(client, "Gone", externalId="gone-1")
    deleted = await ok(client, "deleteCustomer", {"id": gone["id"], "expectedVersion": 1})
    assert deleted["customer"]["deletedAt"] is not None

    assert await customer_ids(client) == [kept["id"]]
    everyone = set(await customer_ids(client, "filter: {includeDeleted: true}"))
    assert everyone == {kept["id"], gone["id"]}
    by_id = await client.data(LOOKUP, {"id": gone["id"]})
    by_external = await client.data(LOOKUP, {"ext": "gone-1"})
    assert by_id["customer"]["deletedAt"] == by_external["customer"]["deletedAt"] is not None

    for mutation, input in (
        ("updateCustomer", {"id": gone["id"], "name": "X"}),
        ("deleteCustomer", {"id": gone["id"]}),
    ):
        assert await rejected(client, mutation, input) == [("DELETED", "input.id")]

    restored = (await ok(client, "restoreCustomer", {"id": gone["id"]}))["customer"]
    assert restored["deletedAt"] is None and restored["name"] == "Gone"
    assert set(await customer_ids(client)) == {kept["id"], gone["id"]}
    assert await rejected(client, "restoreCustomer", {"id": kept["id"]}) == [
        ("NOT_DELETED", "input.id")
    ]


async def test_upsert_by_external_id(client: GraphQLClient) -> None:
    first = await ok(
        client, "upsertCustomer", {"externalId": "erp-7", "name": "Ada", "email": "a@x.org"}
    )
    assert first["created"] is True
    assert first["customer"]["externalId"] == "erp-7" and first["customer"]["version"] == 1

    second = await ok(client, "upsertCustomer", {"externalId": "erp-7", "phone": "+442079460018"})
    assert second["created"] is False
    assert second["customer"]["id"] == first["customer"]["id"]
    assert second["customer"]["phone"] == "+442079460018"
    assert second["customer"]["email"] == "a@x.org" and second["customer"]["name"] == "Ada"
    assert second["customer"]["version"] == 2

    unchanged = await ok(client, "upsertCustomer", {"externalId": "erp-7", "name": "Ada"})
    assert unchanged["created"] is False and unchanged["customer"]["version"] == 2
    assert len((await snapshot(client))["customer"]) == 1

    assert await rejected(client, "upsertCustomer", {"externalId": "new-1"}) == [
        ("REQUIRED", "input.name")
    ]
    assert await rejected(client, "upsertCustomer", {"externalId": "  ", "name": "X"}) == [
        ("REQUIRED", "input.externalId")
    ]
    await ok(client, "deleteCustomer", {"id": first["customer"]["id"]})
    back = {"externalId": "erp-7", "name": "Back"}
    assert await rejected(client, "upsertCustomer", back) == [("DELETED", "input.externalId")]
    assert (await mutate(client, "upsertCustomer", back))["created"] is False


async def test_lookups_and_unique_external_ids(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada", externalId="ext-ada")
    grace = await customer(client, "Grace")
    assert (await client.data(LOOKUP, {"id": ada["id"]}))["customer"]["name"] == "Ada"
    assert (await client.data(LOOKUP, {"ext": "ext-ada"}))["customer"]["id"] == ada["id"]
    assert (await client.data(LOOKUP, {"ext": "nobody"}))["customer"] is None
    for variables in ({}, {"id": ada["id"], "ext": "ext-ada"}):
        assert await query_error(client, LOOKUP, variables) == ("INVALID_ARGUMENT", "id")

    duplicate = [("DUPLICATE", "input.externalId")]
    taken = {"name": "Bob", "externalId": "ext-ada"}
    assert await rejected(client, "createCustomer", taken) == duplicate
    assert await rejected(
        client, "updateCustomer", {"id": grace["id"], "externalId": "ext-ada"}
    ) == (duplicate)


async def test_invalid_contact_data_is_refused(client: GraphQLClient) -> None:
    for raw in ("not-an-email", "ada@", "two@@example.com", "ada@localhost"):
        assert await rejected(client, "createCustomer", {"name": "Ada", "email": raw}) == [
            ("INVALID_EMAIL", "input.email")
        ]
    ada = await customer(client, "Ada", phone="415-555-2671")
    for raw in ("12", "call me", "+1 555"):
        assert await rejected(client, "updateCustomer", {"id": ada["id"], "phone": raw}) == [
            ("INVALID_PHONE", "input.phone")
        ]
    assert await rejected(client, "createCustomer", {"name": "Ada", "attributes": [1, 2]}) == [
        ("INVALID_VALUE", "input.attributes")
    ]
    everything_wrong = {
        "name": " ",
        "email": "nope",
        "phone": "nope",
        "tags": ["ok", ""],
        "attributes": {"nested": {"a": 1}},
    }
    assert sorted(await rejected(client, "createCustomer", everything_wrong)) == [
        ("INVALID_EMAIL", "input.email"),
        ("INVALID_PHONE", "input.phone"),
        ("INVALID_VALUE", "input.attributes.nested"),
        ("REQUIRED", "input.name"),
        ("REQUIRED", "input.tags.1"),
    ]


async def test_phone_region_comes_from_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_DEFAULT_PHONE_REGION", "gb")  # lower case on purpose
    configured = Settings(database_url=settings.database_url, plugins=[], env="test")
    async with app_client(configured, plugins=[]) as british:
        local = await customer(british, "Londoner", phone="020 7946 0018")
        assert local["phone"] == "+442079460018"
        abroad = await customer(british, "Berliner", phone="+49 30 901820")
        assert abroad["phone"] == "+4930901820"
        american = {"name": "US", "phone": "(415) 555-0123"}
        assert await rejected(british, "createCustomer", american) == [
            ("INVALID_PHONE", "input.phone")
        ]


async def test_nul_bytes_in_text_are_refused(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    cases = [
        ("createCustomer", {"name": "A\x00da"}, "input.name"),
        ("createCustomer", {"name": "Ada", "company": "\x00"}, "input.company"),
        ("createCustomer", {"name": "Ada", "tags": ["ok", "a\x00"]}, "input.tags.1"),
        ("createCustomer", {"name": "Ada", "attributes": {"k": "v\x00"}}, "input.attributes.k"),
        ("updateCustomer", {"id": ada["id"], "externalId": "x\x00"}, "input.externalId"),
    ]
    for name, input, path in cases:
        assert await refused(client, name, input) == ("INVALID_VALUE", path)
    before = await snapshot(client)
    literal = 'mutation { createCustomer(input: {name: "A\\u0000"}) { errors { code } } }'
    assert await query_error(client, literal) == ("INVALID_VALUE", "input.name")
    searched = '{ customers(filter: {tags: ["a", "\\u0000"]}) { totalCount } }'
    assert await query_error(client, searched) == ("INVALID_VALUE", "filter.tags.1")
    lookup = "query($e: String) { customer(externalId: $e) { id } }"
    assert await query_error(client, lookup, {"e": "\x00"}) == ("INVALID_VALUE", "e")
    assert await snapshot(client) == before


async def test_search_matches_name_email_and_phone(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada Lovelace", email="ada@engines.org", phone="415-555-2671")
    grace = await customer(client, "Grace Hopper", email="grace@navy.mil", phone="+44 20 7946 0018")
    await customer(client, "Alan_Turing 100%", email="alan@bletchley.uk")

    async def search(text: str) -> set[str]:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return set(await customer_ids(client, f'filter: {{search: "{escaped}"}}'))

    assert await search("lovelace") == {ada["id"]}
    assert await search("NAVY.mil") == {grace["id"]}
    assert await search("555 2671") == {ada["id"]}
    assert await search("+44 20 7946") == {grace["id"]}
    assert await search("100%") == await search("_turing") != set()
    assert await search("%") == await search("alan"), "LIKE wildcards are plain text"
    assert await search("nobody") == set()
    assert len(await search("   ")) == 3


async def test_filters_by_stage_tags_created_and_deleted(client: GraphQLClient) -> None:
    lead = await customer(client, "Lead", tags=["vip", "eu"])
    prospect = await customer(client, "Prospect", lifecycleStage="PROSPECT", tags=["vip"])
    churned = await customer(client, "Churned", lifecycleStage="CHURNED", tags=["eu"])
    await ok(client, "deleteCustomer", {"id": churned["id"]})

    async def ids(arguments: str) -> list[str]:
        return await customer_ids(client, f"filter: {{{arguments}}}")

    assert set(await ids("lifecycleStages: [LEAD, PROSPECT]")) == {lead["id"], prospect["id"]}
    assert await ids("lifecycleStages: [CHURNED]") == []
    assert await ids("lifecycleStages: [CHURNED], includeDeleted: true") == [churned["id"]]
    assert await ids("lifecycleStages: []") == []
    assert set(await ids('tags: ["vip"]')) == {lead["id"], prospect["id"]}
    assert await ids('tags: ["vip", "eu"]') == [lead["id"]]
    assert set(await ids('tags: ["eu"], includeDeleted: true')) == {lead["id"], churned["id"]}
    assert await ids('tags: ["v"]') == []
    assert await ids('tags: ["vip"], search: "prosp"') == [prospect["id"]]

    after = f'createdAfter: "{prospect["createdAt"]}"'
    before = f'createdBefore: "{churned["createdAt"]}"'
    assert await ids(f"{after}, includeDeleted: true") == [churned["id"], prospect["id"]]
    assert await ids(f'createdBefore: "{prospect["createdAt"]}"') == [lead["id"]]
    assert await ids(f"{after}, {before}") == [prospect["id"]]


async def test_order_by(client: GraphQLClient) -> None:
    bob = await customer(client, "bob")
    ada = await customer(client, "Ada")
    cid = await customer(client, "Cid")
    await ok(client, "updateCustomer", {"id": bob["id"], "company": "touched"})

    assert await customer_ids(client) == [cid["id"], ada["id"], bob["id"]]
    ascending = await customer_ids(client, "orderBy: {field: CREATED_AT, direction: ASC}")
    assert ascending == [bob["id"], ada["id"], cid["id"]]
    assert (await customer_ids(client, "orderBy: {field: UPDATED_AT}"))[0] == bob["id"]
    by_name = await customer_ids(client, "orderBy: {field: NAME, direction: ASC}")
    assert by_name[0] == ada["id"]
    assert await customer_ids(client, "orderBy: {field: NAME, direction: DESC}") == by_name[::-1]
