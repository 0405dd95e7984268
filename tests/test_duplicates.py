"""Duplicate detection: scored candidate pairs with the reasons for each score."""

from __future__ import annotations

from crm_graph.testing import GraphQLClient

PEOPLE = [
    {
        "externalId": "ada",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "company": "Analytical Engines",
    },
    {"externalId": "ada2", "name": "Lovelace, Ada", "email": "ADA@example.com"},
    {
        "externalId": "ada3",
        "name": "Ada Lovelase",
        "phone": "+14155550123",
        "company": "Analytical Engines Ltd",
    },
    {"externalId": "ada4", "name": "A. King", "phone": "+1 415 555 0123"},
    {"externalId": "bob", "name": "Bob Smith", "email": "bob@example.com"},
    {"externalId": "rob", "name": "Robert Smith", "email": "rob@example.com"},
    {"externalId": "charles", "name": "Charles Babbage", "company": "Analytical Engines"},
]


async def _seed(client: GraphQLClient) -> dict[str, str]:
    result = await client.data(
        """mutation($input: [ImportCustomerInput!]!) { importCustomers(input: $input) {
             rejected results { customer { id externalId } } } }""",
        {"input": PEOPLE},
    )
    assert result["importCustomers"]["rejected"] == 0
    return {
        r["customer"]["externalId"]: r["customer"]["id"]
        for r in result["importCustomers"]["results"]
    }


async def test_candidates_for_one_customer_come_with_their_reasons(client: GraphQLClient) -> None:
    ids = await _seed(client)
    data = await client.data(
        """query($id: ID!) { duplicateCandidates(customerId: $id) {
             score reasons { code message similarity } customer { externalId } } }""",
        {"id": ids["ada"]},
    )
    found = {c["customer"]["externalId"]: c for c in data["duplicateCandidates"]}
    assert list(found) == ["ada2", "ada3"]  # best first; Bob, Charles and A. King are not Ada
    same_email = found["ada2"]
    assert [r["code"] for r in same_email["reasons"]] == ["EMAIL", "NAME"]
    assert same_email["reasons"][0] == {
        "code": "EMAIL",
        "message": "same e-mail address ada@example.com",
        "similarity": 1.0,
    }
    assert same_email["score"] > 0.95
    typo = found["ada3"]
    assert [r["code"] for r in typo["reasons"]] == ["NAME", "COMPANY"]
    assert 0.5 <= typo["score"] < same_email["score"]


async def test_the_likeliest_pairs_across_all_customers(client: GraphQLClient) -> None:
    await _seed(client)
    data = await client.data(
        "{ duplicateCustomers(first: 10) { score reasons { code } customers { externalId } } }"
    )
    pairs = [
        ({c["externalId"] for c in p["customers"]}, [r["code"] for r in p["reasons"]])
        for p in data["duplicateCustomers"]
    ]
    assert pairs[0] == ({"ada", "ada2"}, ["EMAIL", "NAME"])
    assert ({"ada3", "ada4"}, ["PHONE"]) in pairs  # same number, written differently
    assert ({"ada", "ada3"}, ["NAME", "COMPANY"]) in pairs
    assert not any("charles" in ids or "bob" in ids for ids, _ in pairs)
    scores = [p["score"] for p in data["duplicateCustomers"]]
    assert scores == sorted(scores, reverse=True)

    top = await client.data("{ duplicateCustomers(first: 1) { score } }")
    assert len(top["duplicateCustomers"]) == 1
    too_many = await client.execute("{ duplicateCustomers(first: 1000) { score } }")
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_deleted_customers_are_not_candidates(client: GraphQLClient) -> None:
    ids = await _seed(client)
    await client.data(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { errors { code } } }",
        {"id": ids["ada2"]},
    )
    data = await client.data(
        "query($id: ID!) { duplicateCandidates(customerId: $id) { customer { externalId } } }",
        {"id": ids["ada"]},
    )
    assert [c["customer"]["externalId"] for c in data["duplicateCandidates"]] == ["ada3"]
    gone = await client.execute(
        "query($id: ID!) { duplicateCandidates(customerId: $id) { score } }", {"id": ids["ada2"]}
    )
    assert gone["errors"][0]["extensions"]["code"] == "DELETED"
