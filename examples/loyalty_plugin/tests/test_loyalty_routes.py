"""The loyalty plugin's routes: a public, single-use voucher link and an account view that
needs ``loyalty:read``, over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr

import crm_loyalty
from crm_graph.plugin import LinkTokens, from_global_id
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from crm_loyalty.routes import VOUCHER, voucher_token

BALANCE = "query ($id: ID!) { customer(id: $id) { loyaltyPoints } }"
ANONYMOUS = {"Authorization": ""}


@pytest.fixture
async def loyalty(loyalty_settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The plugin's app, with a role that may read customers but not loyalty balances."""
    settings = loyalty_settings.model_copy(update={"roles": {"auditor": ["customers:read"]}})
    async with app_client(settings, plugins=[crm_loyalty]) as client:
        yield client


async def new_customer(client: GraphQLClient, name: str = "Ada") -> str:
    data = await client.data(
        "mutation ($name: String!) { createCustomer(input: {name: $name}) { customer { id } } }",
        {"name": name},
    )
    return data["createCustomer"]["customer"]["id"]


def voucher(client: GraphQLClient, customer: str, points: int, **changes: object) -> str:
    return voucher_token(client.app.state.crm, from_global_id(customer)[1], points, **changes)


async def redeem(client: GraphQLClient, token: str) -> tuple[int, dict]:
    answer = await client.http.post(f"/p/loyalty/redeem/{token}", headers=ANONYMOUS)
    return answer.status_code, answer.json()


async def points(client: GraphQLClient, customer: str) -> int:
    return (await client.data(BALANCE, {"id": customer}))["customer"]["loyaltyPoints"]


def refusal(code: str, message: str) -> dict:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


async def test_a_voucher_link_works_once_without_credentials(loyalty: GraphQLClient) -> None:
    ada = await new_customer(loyalty)
    token = voucher(loyalty, ada, 50)
    assert await redeem(loyalty, token) == (200, {"customerId": ada, "points": 50})
    assert await points(loyalty, ada) == 50

    assert await redeem(loyalty, token) == (
        409,
        refusal("TOKEN_USED", "the link has already been used"),
    )
    assert await points(loyalty, ada) == 50  # nothing written the second time


async def test_two_uses_at_once_redeem_one_voucher_once(loyalty: GraphQLClient) -> None:
    ada = await new_customer(loyalty)
    token = voucher(loyalty, ada, 70)
    answers = await asyncio.gather(redeem(loyalty, token), redeem(loyalty, token))
    assert sorted(status for status, _ in answers) == [200, 409]
    assert await points(loyalty, ada) == 70


async def test_expired_forged_and_wrong_purpose_links_are_refused_each_with_its_error(
    loyalty: GraphQLClient,
) -> None:
    ada = await new_customer(loyalty)
    app = loyalty.app.state.crm
    short = voucher(loyalty, ada, 10, valid_for=timedelta(seconds=1))
    other_server = LinkTokens(Settings(env="test", secret_key=SecretStr("o" * 40)))
    forged = other_server.make(
        VOUCHER, from_global_id(ada)[1], timedelta(days=1), data={"points": 9}
    )
    header, claims, signature = voucher(loyalty, ada, 10).split(".")
    tampered = f"{header}.{claims}.{signature[::-1]}"
    wrong = app.tokens.make("loyalty.unsubscribe", from_global_id(ada)[1], timedelta(days=1))
    await asyncio.sleep(1.1)

    assert await redeem(loyalty, short) == (410, refusal("TOKEN_EXPIRED", "the link has expired"))
    invalid = (400, refusal("TOKEN_INVALID", "the link is not valid"))
    assert await redeem(loyalty, forged) == invalid
    assert await redeem(loyalty, tampered) == invalid
    assert await redeem(loyalty, "not-a-token") == invalid
    assert await redeem(loyalty, wrong) == (
        400,
        refusal("TOKEN_WRONG_PURPOSE", "the link was not made for 'loyalty.voucher'"),
    )
    assert await points(loyalty, ada) == 0


async def test_a_refused_redemption_leaves_the_voucher_unused(loyalty: GraphQLClient) -> None:
    """The token's use and the points commit together: when the route refuses after using
    the token (the customer was deleted), the token is still good once the customer is back."""
    ada = await new_customer(loyalty)
    token = voucher(loyalty, ada, 30)
    customer = "mutation ($id: ID!) { %s(input: {id: $id}) { errors { code } } }"
    await loyalty.data(customer % "deleteCustomer", {"id": ada})
    assert await redeem(loyalty, token) == (
        404,
        refusal("NOT_FOUND", "the customer of this voucher no longer exists"),
    )
    await loyalty.data(customer % "restoreCustomer", {"id": ada})
    assert await redeem(loyalty, token) == (200, {"customerId": ada, "points": 30})


async def test_the_account_route_needs_a_credential_and_loyalty_read(
    loyalty: GraphQLClient,
) -> None:
    ada = await new_customer(loyalty)
    await redeem(loyalty, voucher(loyalty, ada, 40))
    path = f"/p/loyalty/accounts/{ada}"

    missing = await loyalty.http.get(path, headers=ANONYMOUS)
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    auditor = loyalty.acting_as("auditor")
    forbidden = await loyalty.http.get(path, headers=auditor.headers)
    assert forbidden.status_code == 403
    assert forbidden.json() == refusal("FORBIDDEN", "this needs the permission 'loyalty:read'")

    reader = loyalty.acting_as("readonly")
    found = await loyalty.http.get(path, headers=reader.headers)
    assert (found.status_code, found.json()) == (200, {"customerId": ada, "points": 40})

    bob = await new_customer(loyalty, "Bob")  # no account yet
    assert (await loyalty.http.get(f"/p/loyalty/accounts/{bob}")).json()["points"] == 0
    gone = await loyalty.http.get("/p/loyalty/accounts/Q3VzdG9tZXI6OTk5OTk")  # Customer:99999
    assert gone.status_code == 404
    malformed = await loyalty.http.get("/p/loyalty/accounts/nonsense")
    assert malformed.status_code == 400
    [error] = malformed.json()["errors"]
    assert error["extensions"] == {"code": "INVALID_ID", "field": ["customerId"]}
