"""Webhooks against a real HTTP receiver on 127.0.0.1 that fails in every way it can.

Every (webhook, event) pair ends succeeded or dead, every request carries a valid Standard
Webhooks signature, each attempt is in the delivery log, 410 disables the endpoint, 429's
Retry-After is honoured, and retention deletes settled deliveries but never pending ones.
(Workers SIGKILLed mid-request, in real server processes: test_webhooks_live.)
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text
from test_events import fast, mutate, wait_for_events

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from crm_graph.webhooks import WebhookVerificationError, new_secret, sign, verify

CREATE_WEBHOOK = """
mutation ($input: CreateWebhookInput!) {
  createWebhook(input: $input) { webhook { id url eventTypes status } secret errors { code field } }
}
"""
DELIVERIES = """
query ($id: ID!, $status: WebhookDeliveryStatus) {
  webhookDeliveries(webhookId: $id, status: $status, first: 100) {
    totalCount
    nodes {
      eventId status attempts lastError event { type }
      attemptLog { number statusCode error finishedAt latencyMs responseBody }
    }
  }
}
"""
WEBHOOK = "query ($id: ID!) { webhook(id: $id) { status disabledReason } }"
SET_STATUS = """
mutation ($id: ID!, $status: WebhookStatus!) {
  updateWebhook(input: {id: $id, status: $status}) { errors { code } }
}
"""


HOLD_SECONDS = 0.5  # "hold": answer 200 this late (a worker killed meanwhile never hears it)
HANG_SECONDS = 2.0  # "hang": never answer; give the sender this long to time out


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    held: bool = False  # being held right now
    vanished: bool = False  # the sender went away while it was held


@dataclass
class Receiver:
    """A raw HTTP/1.1 server; ``behave(path, n)`` picks the answer to the n-th request: a
    status (with an optional header), ``reset``, ``hang``, ``hold``, or a 200 whose body never
    ends: ``flood`` (as fast as it is read) or ``drip`` (a byte at a time)."""

    behave: Callable[[str, int], str]
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {
                k.strip().lower(): v.strip()
                for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            count = sum(r.path == path for r in self.requests)
            request = Request(path, headers, body, time.monotonic())
            self.requests.append(request)
            action = self.behave(path, count)
            if action == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif action == "hang":
                await sender_gone(reader, HANG_SECONDS)
            elif action in ("flood", "drip"):
                await stream_forever(writer, action)
            elif action == "hold":
                request.held = True
                request.vanished = await sender_gone(reader, HOLD_SECONDS)
                request.held = False
                if not request.vanished:
                    await answer(writer, "200")
            else:
                await answer(writer, action)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def sender_gone(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the sender closed the connection within ``seconds`` (it sends nothing more
    while it waits for the answer, so anything read means it is gone)."""
    try:
        async with asyncio.timeout(seconds):
            await reader.read(1)
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def stream_forever(writer: asyncio.StreamWriter, action: str) -> None:
    """A 200 with an endless chunked body, until the sender hangs up (at most 20 s)."""
    writer.write(b"HTTP/1.1 200 X\r\ntransfer-encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536 if action == "flood" else b"x"
    with suppress(ConnectionError, TimeoutError):
        async with asyncio.timeout(20):
            while True:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                if action == "drip":
                    await asyncio.sleep(0.05)


async def answer(writer: asyncio.StreamWriter, action: str) -> None:
    status, _, extra = action.partition(" ")
    extra_header = f"{extra}\r\n" if extra else ""
    writer.write(
        f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n"
        f"{extra_header}\r\nok".encode()
    )
    await writer.drain()


@asynccontextmanager
async def receiver(behave: Callable[[str, int], str]) -> AsyncIterator[Receiver]:
    found = Receiver(behave)
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield found
        server.close()


def hook_settings(settings: Settings, **changes: Any) -> Settings:
    return fast(
        settings,
        **{
            "webhook_allow_private_targets": True,
            "webhook_retry_scale": 3e-6,  # the 75-hour schedule takes under a second
            "webhook_timeout_seconds": 0.3,
            **changes,
        },
    )


async def create_webhook(client: GraphQLClient, url: str, types: list[str] | None = None) -> dict:
    data = await client.data(CREATE_WEBHOOK, {"input": {"url": url, "eventTypes": types or []}})
    payload = data["createWebhook"]
    assert payload["errors"] == [], payload
    assert payload["secret"].startswith("whsec_")
    return {**payload["webhook"], "secret": payload["secret"]}


async def settled(client: GraphQLClient, webhook: dict, expected: int, timeout: float = 20) -> list:
    """The webhook's deliveries once there are ``expected`` and none is pending. (Counted
    from the nodes: ``totalCount`` is read by a statement of its own, and the dispatcher may
    add deliveries between the two.)"""
    deadline = time.monotonic() + timeout
    while True:
        page = (await client.data(DELIVERIES, {"id": webhook["id"]}))["webhookDeliveries"]
        pending = [d for d in page["nodes"] if d["status"] == "PENDING"]
        if len(page["nodes"]) >= expected and not pending:
            return page["nodes"]
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries not settled: {page}")
        await asyncio.sleep(0.05)


async def test_every_pair_ends_succeeded_or_dead_with_signed_requests_and_an_attempt_log(
    settings: Settings,
) -> None:
    def behave(path: str, n: int) -> str:
        """Fixed per (path, request number), so that the order in which workers send does not
        change what each endpoint answers."""
        if path == "/dead":
            return "500"
        if path == "/gone":
            return "410" if n == 2 else "200"
        if path == "/busy":
            return "429 retry-after: 1" if n == 0 else "204"
        if n == 1:
            return "hang"  # every flaky endpoint times out at least once
        chance = random.Random(f"{path}:{n}")
        return chance.choices(["200", "500", "429", "hang", "reset"], weights=[50, 20, 10, 5, 15])[
            0
        ]

    async with (
        receiver(behave) as http,
        app_client(hook_settings(settings), plugins=[]) as client,
    ):
        flaky = [await create_webhook(client, f"{http.url}/flaky{i}") for i in range(2)]
        gone = await create_webhook(client, f"{http.url}/gone", ["customer.created"])
        dead = await create_webhook(client, f"{http.url}/dead", ["product.created"])
        busy = await create_webhook(client, f"{http.url}/busy", ["product.created"])
        watcher = await create_webhook(client, f"{http.url}/watch", ["webhook.delivery_dead"])
        for i in range(12):
            await mutate(client, "createCustomer", {"name": f"C{i}"}, "customer")
        await mutate(client, "createProduct", {"sku": "S", "name": "S", "price": "1"}, "product")
        # (not the webhook.* events of deliveries that die meanwhile: flaky* do not get those)
        events = await wait_for_events(client, 13, types=["customer.created", "product.created"])

        for webhook in flaky:
            deliveries = await settled(client, webhook, 13)
            assert sorted(d["eventId"] for d in deliveries) == sorted(e["id"] for e in events)
            for d in deliveries:
                assert d["status"] in ("SUCCEEDED", "DEAD")
                assert len(d["attemptLog"]) == d["attempts"]
                assert [a["number"] for a in d["attemptLog"]] == list(range(1, d["attempts"] + 1))
                assert all(a["finishedAt"] for a in d["attemptLog"])
                for a in d["attemptLog"][:-1]:
                    assert a["error"] or a["statusCode"] in (429, 500), a
                if d["status"] == "SUCCEEDED":
                    assert d["attemptLog"][-1]["statusCode"] == 200
                else:
                    assert d["attempts"] == 10
            errors = {a["error"] for d in deliveries for a in d["attemptLog"] if a["error"]}
            assert any("timed out" in e for e in errors), errors

        # Its third request disables it: later events may find it disabled, and skip it.
        gone_deliveries = await settled(client, gone, 3)
        assert {d["status"] for d in gone_deliveries} == {"SUCCEEDED", "DEAD"}
        status = (await client.data(WEBHOOK, {"id": gone["id"]}))["webhook"]
        assert status == {"status": "DISABLED", "disabledReason": "the receiver answered 410 Gone"}

        [died] = await settled(client, dead, 1)
        assert died["status"] == "DEAD" and died["attempts"] == 10
        assert [a["statusCode"] for a in died["attemptLog"]] == [500] * 10
        assert died["event"]["type"] == "product.created"

        [waited] = await settled(client, busy, 1)
        assert [a["statusCode"] for a in waited["attemptLog"]] == [429, 204]
        busy_times = [r.at for r in http.requests if r.path == "/busy"]
        assert busy_times[1] - busy_times[0] >= 0.95, "Retry-After: 1 was not honoured"

        dead_count = 0
        for webhook in [*flaky, gone, dead]:
            dead_count += sum(d["status"] == "DEAD" for d in await settled(client, webhook, 1))
        notices = await settled(client, watcher, dead_count)
        assert len(notices) == dead_count and all(n["status"] == "SUCCEEDED" for n in notices)

        secrets = {
            "/" + w["url"].rsplit("/", 1)[1]: w["secret"]
            for w in [*flaky, gone, dead, busy, watcher]
        }
        stranger = new_secret()
        for request in http.requests:
            message = verify(secrets[request.path], request.body, request.headers)
            assert message["id"] == request.headers["webhook-id"]
            with pytest.raises(WebhookVerificationError):
                verify(stranger, request.body, request.headers)


async def test_endless_answers_are_cut_off_at_the_timeout_and_logged_truncated(
    settings: Settings,
) -> None:
    async with (
        receiver(lambda path, _n: path.strip("/")) as http,
        app_client(hook_settings(settings, webhook_timeout_seconds=1.0), plugins=[]) as client,
    ):
        flood = await create_webhook(client, f"{http.url}/flood", ["customer.created"])
        drip = await create_webhook(client, f"{http.url}/drip", ["customer.created"])
        await mutate(client, "createCustomer", {"name": "Ada"}, "customer")
        [flooded] = await settled_first_attempt(client, flood)
        [dripped] = await settled_first_attempt(client, drip)
    first = flooded["attemptLog"][0]
    assert first["statusCode"] == 200 and first["error"] is None
    assert first["responseBody"] == "x" * 1000  # read no further than what is logged
    first = dripped["attemptLog"][0]
    assert first["error"] == "timed out after 1 s", first
    assert 900 <= first["latencyMs"] < 3000, first  # one deadline, not one per read


async def test_answers_that_wait_for_the_write_lock_are_recorded_and_sent_once(
    settings: Settings,
) -> None:
    """Recording an answer may queue for the write lock (SQLite's busy timeout, a table lock
    on PostgreSQL) longer than the request took: each delivery stays its worker's meanwhile,
    so when the lock is free no other worker sends it again, and its one attempt records the
    200."""
    held = hook_settings(settings, webhook_timeout_seconds=1.0, webhook_workers=4)
    async with receiver(lambda _path, _n: "hold") as http, app_client(held, plugins=[]) as client:
        hooks = [await create_webhook(client, f"{http.url}/held{i}") for i in range(2)]
        for i in range(6):
            await mutate(client, "createCustomer", {"name": f"Locked out {i}"}, "customer")
        for _ in range(200):
            if http.requests:
                break
            await asyncio.sleep(0.02)
        engine = client.app.state.crm.engine
        async with engine.connect() as blocker, blocker.begin():
            if blocker.dialect.name == "sqlite":
                await blocker.execute(text("UPDATE webhook_endpoint SET url = url"))
            else:
                await blocker.execute(text("LOCK TABLE webhook_delivery IN EXCLUSIVE MODE"))
            await asyncio.sleep(2.5)  # the answers came after 0.5 s and wait for the lock
            await blocker.rollback()
        deliveries = [d for hook in hooks for d in await settled(client, hook, 6)]
    # Each delivery's attempt log first: a second attempt says why the first did not count.
    for delivery in deliveries:
        assert delivery["status"] == "SUCCEEDED" and delivery["attempts"] == 1, delivery
        assert [a["statusCode"] for a in delivery["attemptLog"]] == [200], delivery
    assert len(http.requests) == 12, sorted(r.headers["webhook-id"] for r in http.requests)


async def settled_first_attempt(client: GraphQLClient, webhook: dict) -> list:
    for _ in range(300):
        page = await client.data(DELIVERIES, {"id": webhook["id"]})
        nodes = page["webhookDeliveries"]["nodes"]
        if nodes and nodes[0]["attemptLog"] and nodes[0]["attemptLog"][0]["finishedAt"]:
            return nodes
        await asyncio.sleep(0.05)
    raise AssertionError(f"no finished attempt for {webhook['url']}")


async def test_webhook_management_secrets_ssrf_and_redelivery(settings: Settings) -> None:
    guarded = fast(settings, webhook_workers=0)
    async with app_client(guarded, plugins=[]) as client:
        for url in [
            "http://127.0.0.1:9/hook",
            "http://10.1.2.3/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest",
            # IPv6 addresses carrying a private IPv4 address: NAT64, 6to4, IPv4-mapped and
            # -compatible, local-use NAT64, Teredo (its client 127.0.0.1).
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
            "ftp://example.com/x",
            "http://user:pw@93.184.216.34/",
        ]:
            data = await client.data(CREATE_WEBHOOK, {"input": {"url": url}})
            assert data["createWebhook"]["errors"][0]["code"] == "UNSAFE_URL", url
            assert data["createWebhook"]["secret"] is None
        unknown = await client.data(
            CREATE_WEBHOOK, {"input": {"url": "http://93.184.216.34/", "eventTypes": ["nope"]}}
        )
        assert unknown["createWebhook"]["errors"] == [
            {"code": "UNKNOWN_EVENT_TYPE", "field": ["input", "eventTypes", "0"]}
        ]
        webhook = await create_webhook(client, "http://93.184.216.34/hook", ["customer.created"])
        listed = await client.data("{ webhooks { nodes { id url } } }")
        assert listed["webhooks"]["nodes"] == [{"id": webhook["id"], "url": webhook["url"]}]
        hidden = await client.execute("{ webhooks { nodes { secret } } }")
        assert "Cannot query field 'secret'" in hidden["errors"][0]["message"]

        paused = await client.data(
            "mutation ($id: ID!) { updateWebhook(input: {id: $id, status: PAUSED}) "
            "{ webhook { status version } errors { code } } }",
            {"id": webhook["id"]},
        )
        assert paused["updateWebhook"]["webhook"]["status"] == "PAUSED"
        await mutate(client, "createCustomer", {"name": "Ada"}, "customer")
        [event] = await wait_for_events(client, 1)
        [pending] = await settled_pending(client, webhook)
        assert pending["eventId"] == event["id"]
        again = await client.data(
            "mutation ($w: ID!, $e: ID!) { redeliverEvent(input: {webhookId: $w, eventId: $e}) "
            "{ delivery { eventId status } errors { code } } }",
            {"w": webhook["id"], "e": event["id"]},
        )
        assert again["redeliverEvent"]["delivery"] == {"eventId": event["id"], "status": "PENDING"}
        deleted = await client.data(
            "mutation ($id: ID!) { deleteWebhook(input: {id: $id}) { errors { code } } }",
            {"id": webhook["id"]},
        )
        assert deleted["deleteWebhook"]["errors"] == []
        assert (await client.data(WEBHOOK, {"id": webhook["id"]}))["webhook"] is None


class Names:
    """A resolver for webhook targets (``app_client(resolve=...)``) answering from a table the
    test changes, as a name's DNS records change: no system resolver, no traffic."""

    def __init__(self, **answers: str) -> None:
        self.answers = dict(answers)

    async def __call__(self, host: str, _port: int) -> list[str]:
        if host not in self.answers:
            raise OSError(f"unknown name {host}")
        return [self.answers[host]]


async def test_a_name_rebound_to_loopback_after_creation_is_never_connected_to(
    settings: Settings,
) -> None:
    """DNS rebinding: the name was public when the webhook was saved and points at loopback
    when it is delivered. The delivery's one look-up is the address checked and connected
    to, so the receiver listening there hears nothing and the attempt says why."""
    names = Names(**{"hooks.example": "93.184.216.34"})
    strict = hook_settings(settings, webhook_allow_private_targets=False)
    async with (
        receiver(lambda _path, _n: "200") as http,
        app_client(strict, plugins=[], resolve=names) as client,
    ):
        port = http.url.rsplit(":", 1)[1]
        webhook = await create_webhook(
            client, f"http://hooks.example:{port}/", ["customer.created"]
        )
        names.answers["hooks.example"] = "127.0.0.1"
        await mutate(client, "createCustomer", {"name": "Ada"}, "customer")
        [delivery] = await settled_first_attempt(client, webhook)
    assert http.requests == []
    error = delivery["attemptLog"][0]["error"]
    assert "'hooks.example' resolves to a private, loopback or link-local address" in error


async def test_deliveries_connect_to_the_resolved_address_with_the_name_as_host(
    settings: Settings,
) -> None:
    """The connection goes to the address the app's resolver gave (the system cannot resolve
    ``.test`` names), while the request still names the host it was configured with."""
    names = Names(**{"receiver.test": "127.0.0.1"})
    async with (
        receiver(lambda _path, _n: "200") as http,
        app_client(hook_settings(settings), plugins=[], resolve=names) as client,
    ):
        port = http.url.rsplit(":", 1)[1]
        webhook = await create_webhook(
            client, f"http://receiver.test:{port}/in", ["customer.created"]
        )
        await mutate(client, "createCustomer", {"name": "Ada"}, "customer")
        [delivery] = await settled(client, webhook, 1)
    assert delivery["status"] == "SUCCEEDED", delivery
    [request] = http.requests
    assert (request.path, request.headers["host"]) == ("/in", f"receiver.test:{port}")


def _self_signed(name: str, directory: Path) -> tuple[Path, Path]:
    """A certificate for ``name`` (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_tls_to_the_checked_address_still_verifies_and_names_the_host(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over https the socket goes to the resolved address while TLS sends the URL's host as
    SNI and verifies the certificate against it: a certificate for that name is accepted."""
    cert_file, key_file = _self_signed("receiver.test", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the receiver's certificate is trusted
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    named: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _context: named.append(name)
    found = Receiver(lambda _path, _n: "200")
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    names = Names(**{"receiver.test": "127.0.0.1"})
    async with server, app_client(hook_settings(settings), plugins=[], resolve=names) as client:
        webhook = await create_webhook(
            client, f"https://receiver.test:{port}/tls", ["customer.created"]
        )
        await mutate(client, "createCustomer", {"name": "Ada"}, "customer")
        [delivery] = await settled(client, webhook, 1)
        server.close()
    assert delivery["status"] == "SUCCEEDED", delivery
    assert named == ["receiver.test"]
    assert found.requests[0].headers["host"] == f"receiver.test:{port}"


async def test_retention_deletes_settled_deliveries_with_their_attempts_never_pending_ones(
    settings: Settings,
) -> None:
    def behave(path: str, _n: int) -> str:
        return {"/ok": "200", "/fail": "500", "/gone": "410"}[path]  # /paused is never asked

    # A failed attempt's retry waits 500 s: the failing delivery stays pending with its log.
    kept = hook_settings(settings, webhook_retry_scale=100)
    pruning = hook_settings(
        settings,
        webhook_retry_scale=100,
        event_retention_days=0,
        event_prune_interval_seconds=0.05,
    )
    names = ("ok", "fail", "gone", "paused")
    async with receiver(behave) as http:
        async with app_client(kept, plugins=[]) as client:
            hooks = {
                name: await create_webhook(client, f"{http.url}/{name}", ["customer.created"])
                for name in names
            }
            await client.data(SET_STATUS, {"id": hooks["paused"]["id"], "status": "PAUSED"})
            for name in ("Ada", "Bob"):
                await mutate(client, "createCustomer", {"name": name}, "customer")
            assert {d["status"] for d in await settled(client, hooks["ok"], 2)} == {"SUCCEEDED"}
            # (the 410 may disable it before the second event is dispatched)
            assert {d["status"] for d in await settled(client, hooks["gone"], 1)} == {"DEAD"}
            failing = await eventually(
                client,
                hooks["fail"],
                lambda page: [len(d["attemptLog"]) for d in page["nodes"]] == [1, 1],
            )
            assert {d["status"] for d in failing["nodes"]} == {"PENDING"}
            before = await eventually(client, hooks["paused"], lambda p: p["totalCount"] == 2)
            assert {d["status"] for d in before["nodes"]} == {"PENDING"}

        # The same database with a retention of zero days: everything settled goes.
        async with app_client(pruning, plugins=[]) as client:
            for name in ("ok", "gone"):
                await eventually(client, hooks[name], lambda p: p["totalCount"] == 0)
            stream = await client.data("{ eventStream { oldestCursor latestCursor } }")
            assert len(set(stream["eventStream"].values())) == 1, "the events were not pruned"
            await asyncio.sleep(0.2)  # several more prunes
            for name in ("fail", "paused"):
                page = await client.data(DELIVERIES, {"id": hooks[name]["id"]})
                nodes = page["webhookDeliveries"]["nodes"]
                assert [(d["status"], d["event"]) for d in nodes] == [("PENDING", None)] * 2
                attempts = [[a["statusCode"] for a in d["attemptLog"]] for d in nodes]
                assert attempts == ([[500], [500]] if name == "fail" else [[], []])

            # Resumed, the paused webhook's deliveries die (their events are gone), then go.
            await client.data(SET_STATUS, {"id": hooks["paused"]["id"], "status": "ACTIVE"})
            await eventually(client, hooks["paused"], lambda p: p["totalCount"] == 0)
            async with client.app.state.crm.read() as session:
                counts = [
                    await session.scalar(text(f"SELECT count(*) FROM {table}"))
                    for table in ("webhook_delivery", "webhook_attempt")
                ]
            assert counts == [2, 2], "only the failing webhook's pending deliveries remain"
    assert not [r for r in http.requests if r.path == "/paused"]


async def eventually(
    client: GraphQLClient, webhook: dict, condition: Callable[[dict], bool], timeout: float = 10
) -> dict:
    """The webhook's page of deliveries once ``condition`` holds for it."""
    deadline = time.monotonic() + timeout
    while True:
        page = (await client.data(DELIVERIES, {"id": webhook["id"]}))["webhookDeliveries"]
        if condition(page):
            return page
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries never got there: {page}")
        await asyncio.sleep(0.05)


async def settled_pending(client: GraphQLClient, webhook: dict) -> list:
    for _ in range(200):
        page = await client.data(DELIVERIES, {"id": webhook["id"], "status": "PENDING"})
        if page["webhookDeliveries"]["nodes"]:
            return page["webhookDeliveries"]["nodes"]
        await asyncio.sleep(0.02)
    raise AssertionError("no pending delivery for the paused webhook")


def test_verify_refuses_old_timestamps_and_bad_signatures() -> None:
    secret = new_secret()
    body = '{"id":"e1"}'
    now = int(time.time())
    good = {
        "webhook-id": "e1",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret, "e1", now, body),
    }
    assert verify(secret, body, good) == {"id": "e1"}
    stale = now - 301
    old = {
        **good,
        "webhook-timestamp": str(stale),
        "webhook-signature": sign(secret, "e1", stale, body),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(secret, body, old)
    with pytest.raises(WebhookVerificationError):
        verify(secret, body + " ", good)
