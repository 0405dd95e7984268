"""Webhook delivery survives SIGKILL, in real server processes.

Two ``crm-graph serve`` processes deliver at once (claims take ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL and queue for SQLite's write lock) to a real HTTP receiver that answers 200, 500,
429, 410, times out, resets, or holds a request. Both are SIGKILLed while requests are held,
then restarted. Every (webhook, event) pair ends succeeded or dead, no attempt is sent twice,
every request verifies, and the attempt log shows each attempt, the killed ones included. The
kill lands in the tenth and last attempt of a delivery that always fails: that one counts, so
the delivery is dead after ten attempts, not eleven.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from subprocess import Popen

from test_events import fast, mutate, read_all
from test_subscriptions_live import server_env, wait_until
from test_webhooks import DELIVERIES, HOLD_SECONDS, Receiver, create_webhook, receiver

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, server_process
from crm_graph.webhooks import verify

TIMEOUT_SECONDS = 1.0  # longer than a hold, so only a kill ends one early; lease: 1 + 5 + 1 s (claims.lease_length)
INTERRUPTED = ("the worker stopped during the attempt", "before this attempt finished")


def delivering_env(database_url: str) -> dict[str, str]:
    return {
        **server_env(database_url),
        "CRM_EVENT_POLL_INTERVAL_SECONDS": "0.05",
        "CRM_EVENT_SAFETY_POLL_SECONDS": "0.05",
        "CRM_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "CRM_WEBHOOK_RETRY_SCALE": "3e-6",  # the 75-hour schedule takes under a second
        "CRM_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "CRM_WEBHOOK_WORKERS": "4",
    }


@asynccontextmanager
async def servers(env: dict[str, str], count: int = 2) -> AsyncIterator[list[Popen[bytes]]]:
    """``count`` server processes, started side by side (each takes seconds to start)."""
    with ExitStack() as stack:
        started = await asyncio.gather(
            *(asyncio.to_thread(stack.enter_context, server_process(env)) for _ in range(count)),
            return_exceptions=True,
        )
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        yield [process for _url, process in started]


def interrupted(attempt: dict) -> bool:
    return any(note in (attempt["error"] or "") for note in INTERRUPTED)


async def all_settled(client: GraphQLClient, hooks: dict[str, dict], flaky_count: int) -> dict:
    """Each webhook's deliveries once every flaky one has ``flaky_count`` and none is pending."""
    deadline = time.monotonic() + 30
    while True:
        pages = {
            path: (await client.data(DELIVERIES, {"id": hook["id"]}))["webhookDeliveries"]
            for path, hook in hooks.items()
        }
        complete = all(  # nodes, not totalCount: see test_webhooks.settled
            len(page["nodes"]) == flaky_count for path, page in pages.items() if "flaky" in path
        )
        pending = [d for page in pages.values() for d in page["nodes"] if d["status"] == "PENDING"]
        if complete and not pending:
            return {path: page["nodes"] for path, page in pages.items()}
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries not settled: {pages}")
        await asyncio.sleep(0.2)


async def test_every_pair_settles_when_delivery_workers_are_sigkilled_mid_request(
    database_url: str,
) -> None:
    def behave(path: str, n: int) -> str:
        """Fixed per (path, request number), whatever order the workers send in."""
        if path == "/dead":  # fails nine times; the kill lands in its tenth and last attempt
            return "hold" if n == 9 else "500"
        if path == "/gone" and n >= 2:
            return "410"
        answers = ["200", "hold", "500", "429", "reset", "hang"]
        return random.Random(f"{path}:{n}").choices(answers, weights=[47, 12, 14, 8, 12, 3])[0]

    def last_attempt_held() -> bool:
        return any(r.path == "/dead" for r in fresh_holds(http))

    settings = Settings(
        database_url=database_url,
        plugins=[],
        env="test",
        webhook_workers=0,
        webhook_allow_private_targets=True,
    )
    async with receiver(behave) as http, app_client(fast(settings), plugins=[]) as client:
        hooks = {f"/flaky{i}": await create_webhook(client, f"{http.url}/flaky{i}") for i in (0, 1)}
        hooks["/gone"] = await create_webhook(client, f"{http.url}/gone", ["customer.created"])
        hooks["/dead"] = await create_webhook(client, f"{http.url}/dead", ["product.created"])
        await mutate(client, "createProduct", {"sku": "P", "name": "P", "price": "1"}, "product")
        for i in range(8):
            await mutate(client, "createCustomer", {"name": f"C{i}"}, "customer")

        env = delivering_env(database_url)
        async with servers(env) as processes:
            await wait_until(last_attempt_held, 30, "the last attempt to /dead")
            at_kill = [r for r in http.requests if r.held]
            held = fresh_holds(http)
            for process in processes:
                process.kill()  # SIGKILL: the held requests' workers die mid-request
            for process in processes:
                process.wait()
        for i in range(4):  # committed while no worker runs
            await mutate(client, "createCustomer", {"name": f"D{i}"}, "customer")
        async with servers(env):
            found = await all_settled(client, hooks, 13)

        events = [e for e in await read_all(client) if not e["type"].startswith("webhook.")]
    assert len(events) == 13
    assert all(r.vanished for r in held), "a killed worker's request was answered"
    # Only these went away because of the kill: a held request also goes away when its worker,
    # alive but slowed down by a loaded machine, gives up on it (that attempt is a timeout).
    killed = {(r.path, r.headers["webhook-id"]) for r in at_kill if r.vanished}
    check_deliveries(found, hooks, http, events, killed)
    [dead] = found["/dead"]
    assert interrupted(dead["attemptLog"][-1]), "the last attempt died: no eleventh one"
    assert len([r for r in http.requests if r.path == "/dead"]) == 10


def fresh_holds(http: Receiver) -> list:
    """Requests held for under half the hold: a kill now lands well inside it."""
    now = time.monotonic()
    return [r for r in http.requests if r.held and now - r.at < HOLD_SECONDS / 2]


def check_deliveries(
    found: dict, hooks: dict, http: Receiver, events: list, killed: set[tuple[str, str]]
) -> None:
    received = Counter((r.path, r.headers["webhook-id"]) for r in http.requests)
    for path, deliveries in found.items():
        pairs = Counter(d["eventId"] for d in deliveries)
        assert set(pairs.values()) == {1}, f"{path}: an event was delivered twice: {pairs}"
        if "flaky" in path:
            assert set(pairs) == {e["id"] for e in events}
        for d in deliveries:
            log = d["attemptLog"]
            # Attempt numbers are taken under the claim's lock: each one exactly once.
            assert [a["number"] for a in log] == list(range(1, d["attempts"] + 1)), d
            assert all(a["finishedAt"] for a in log), d
            sent = sum(not interrupted(a) for a in log)
            # Every finished attempt reached the receiver, and no attempt was sent twice
            # (a killed one may or may not have left the worker).
            assert sent <= received[path, d["eventId"]] <= d["attempts"], d
            if (path, d["eventId"]) in killed:
                assert any(interrupted(a) for a in log), d
            if d["status"] == "SUCCEEDED":
                assert 200 <= log[-1]["statusCode"] < 300, d
            elif path != "/gone":
                assert d["status"] == "DEAD" and d["attempts"] == 10, d
    gone = found["/gone"]
    assert {d["status"] for d in gone} >= {"DEAD"}
    assert any(a["statusCode"] == 410 for d in gone for a in d["attemptLog"])
    assert [d["attempts"] for d in found["/dead"]] == [10]
    assert killed, "no kill landed mid-request"
    secrets = {path: hook["secret"] for path, hook in hooks.items()}
    for request in http.requests:
        message = verify(secrets[request.path], request.body, request.headers)
        assert message["id"] == request.headers["webhook-id"]
