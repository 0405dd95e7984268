"""Abuse limits per caller: a token bucket per key or token subject (HTTP and WebSocket),
answered with ``RATE_LIMITED`` and when to retry; a bucket of failed authentications per client
address; and a cap on a socket's active subscriptions.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from security_support import bearer, closed_code, operation_request, socket, token_of

from crm_graph.auth.keys import KEY_PREFIX
from crm_graph.auth.ratelimit import RateLimiter
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

VIEWER = {"query": "{ viewer { id } }"}


@pytest.fixture
async def limited(settings: Settings) -> Any:
    """3 requests at once, then one per second."""
    tight = settings.model_copy(
        update={
            "rate_limit_burst": 3,
            "rate_limit_per_minute": 60,
            "max_subscriptions_per_socket": 2,
        }
    )
    async with app_client(tight, plugins=[]) as client:
        yield client


async def test_each_caller_has_a_bucket_and_is_told_when_to_retry(limited: GraphQLClient) -> None:
    answers = [await limited.http.post("/graphql", json=VIEWER) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfter"] <= 1
    assert refused.headers["retry-after"] == "1"

    other = bearer(token_of(limited, "readonly", "someone-else"))
    assert (await limited.http.post("/graphql", json=VIEWER, headers=other)).status_code == 200

    await asyncio.sleep(error["extensions"]["retryAfter"])
    assert (await limited.http.post("/graphql", json=VIEWER)).status_code == 200


async def test_websocket_operations_share_the_bucket_and_subscriptions_are_capped(
    limited: GraphQLClient,
) -> None:
    schema = limited.app.state.schema
    live, variables = operation_request(schema, "Subscription", "events")
    async with socket(limited, {"token": token_of(limited, "integration", "bot")}) as ws:
        assert json.loads(await ws.receive_text(timeout=5))["type"] == "connection_ack"

        async def subscribe(op_id: str, query: str, values: dict) -> None:
            payload = {"query": query, "variables": values}
            await ws.send_text(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))

        await subscribe("a", live, variables)
        await subscribe("b", live, variables)
        await subscribe("c", live, variables)
        capped = json.loads(await ws.receive_text(timeout=5))
        assert capped["id"] == "c" and capped["type"] == "error"
        assert capped["payload"][0]["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": 2}

        await ws.send_text(json.dumps({"id": "a", "type": "complete"}))
        await ws.send_text(json.dumps({"id": "b", "type": "complete"}))
        for op_id in ("q1", "q2", "q3", "q4"):
            await subscribe(op_id, VIEWER["query"], {})
        seen: dict[str, Any] = {}
        while len(seen) < 4:
            message = json.loads(await ws.receive_text(timeout=5))
            if message["type"] in ("next", "error"):
                seen[message["id"]] = message
    codes = {
        op_id: (m["payload"][0]["extensions"]["code"] if m["type"] == "error" else "OK")
        for op_id, m in seen.items()
    }
    # a and b took two of the three tokens; the third goes to one query, the rest must wait.
    assert sorted(codes.values()) == ["OK", "RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"]


def test_the_bucket_refills_at_the_configured_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.acquire("k"), limiter.acquire("k")] == [0.0, 0.0]
    assert limiter.acquire("k") == pytest.approx(1.0)
    now[0] = 0.5
    assert limiter.acquire("k") == pytest.approx(0.5)
    now[0] = 1.0
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("other") == 0.0
    assert RateLimiter(per_minute=0, burst=1).acquire("k") == 0.0  # 0 turns limiting off


@pytest.fixture
async def guarded(settings: Settings) -> Any:
    """Five failed authentications per client address at once, then one per second."""
    tight = settings.model_copy(update={"auth_failure_burst": 5, "auth_failures_per_minute": 60})
    async with app_client(tight, plugins=[]) as client:
        yield client


def _from(client: GraphQLClient, address: str) -> httpx.AsyncClient:
    """HTTP to the client's app as if from ``address`` (in process: no traffic)."""
    transport = httpx.ASGITransport(app=client.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_failed_authentications_are_limited_per_client_address(
    guarded: GraphQLClient,
) -> None:
    """Bogus keys from one address get 429 with Retry-After once its failures are used up;
    from then on that address gets no answer about any credential (so guessing learns
    nothing), over HTTP or WebSocket, while a good key from another address still works."""
    good = token_of(guarded, "readonly", "rita")
    async with _from(guarded, "127.0.0.2") as attacker, _from(guarded, "127.0.0.3") as neighbour:
        answers = [
            await attacker.post("/graphql", json=VIEWER, headers=bearer(f"{KEY_PREFIX}bogus{i}"))
            for i in range(8)
        ]
        assert [a.status_code for a in answers] == [401] * 5 + [429] * 3
        refused = answers[-1]
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert int(refused.headers["retry-after"]) >= 1
        assert (
            await attacker.post("/graphql", json=VIEWER, headers=bearer(good))
        ).status_code == 429
        assert await closed_code(guarded, {"token": good}, "127.0.0.2") == 4403

        assert (
            await neighbour.post("/graphql", json=VIEWER, headers=bearer(good))
        ).status_code == 200
        assert await closed_code(guarded, {"token": good}, "127.0.0.3") is None

        await asyncio.sleep(error["extensions"]["retryAfter"])
        assert (
            await attacker.post("/graphql", json=VIEWER, headers=bearer(good))
        ).status_code == 200

    # Failed connection_inits count too.
    for _ in range(5):
        assert await closed_code(guarded, {"token": "nonsense"}, "127.0.0.4") == 4403
    async with _from(guarded, "127.0.0.4") as socket_guesser:
        answer = await socket_guesser.post("/graphql", json=VIEWER, headers=bearer(good))
        assert answer.status_code == 429


@pytest.mark.parametrize("trusted", [False, True])
async def test_forwarded_addresses_count_only_behind_a_configured_proxy(
    settings: Settings, trusted: bool
) -> None:
    """Behind a proxy in CRM_TRUSTED_PROXIES, each X-Forwarded-For client has its own bucket;
    otherwise the header is the client's to forge and is ignored (the peer's bucket counts)."""
    tight = settings.model_copy(
        update={
            "auth_failure_burst": 2,
            "auth_failures_per_minute": 1,
            "trusted_proxies": ["127.0.0.1"] if trusted else [],
        }
    )
    async with app_client(tight, plugins=[]) as client, _from(client, "127.0.0.1") as proxy:
        statuses = [
            (
                await proxy.post(
                    "/graphql",
                    json=VIEWER,
                    headers={"X-Forwarded-For": f"127.0.0.{10 + i}", **bearer("bogus")},
                )
            ).status_code
            for i in range(4)
        ]
    assert statuses == ([401] * 4 if trusted else [401, 401, 429, 429])
