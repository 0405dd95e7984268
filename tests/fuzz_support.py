"""The fuzzer's parts: hostile scalars, seeded canaries, the checks every response must pass.

Documents come from hypothesis-graphql over the composed schema (core and the bundled
analytics and service plugins); the scalars in them come from here, hostile on purpose: huge and
non-finite numbers, deep JSON, NUL, lone surrogates, extreme dates, forged global IDs. A
response fails when an error has no ``extensions.code``, when any text in it looks like
internals (a traceback, a module, SQL, an exception class), or when a caller without
``pii:read`` sees any part of the personal data seeded as canaries. After a mutation, every
list, the event log and every export must still read.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import graphql
import httpx
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from sqlalchemy import text as text_sql

from crm_graph.auth.permissions import CORE_PERMISSIONS, DEFAULT_ROLES
from crm_graph.io.exporters import export
from crm_graph.io.kinds import data_kinds
from crm_graph.testing import GraphQLClient
from crm_service.config import (
    SURVEYS_READ,
    SURVEYS_SEND,
    TICKETS_ADMIN,
    TICKETS_READ,
    TICKETS_WRITE,
)

# The default roles, and one holding every permission but pii:read: no default role writes
# without also reading personal data, so only this one reaches the mutations' own answers
# (merge plans, duplicate reasons) without pii:read.
NO_PII_ROLE = "nopii"
ROLES = [*DEFAULT_ROLES, NO_PII_ROLE]
EXTRA_ROLES = {
    NO_PII_ROLE: [
        *(p for p in CORE_PERMISSIONS if p not in {"pii:read", "authenticated"}),
        "analytics:read",
        "analytics:train",
        *(TICKETS_READ, TICKETS_WRITE, TICKETS_ADMIN, SURVEYS_READ, SURVEYS_SEND),
    ]
}

# --- canaries: seeded personal data that callers without pii:read must never see ----------

NAME = "Xylophane Brindlewood"  # names are not masked (README, Security): seeded, not checked
EMAIL = "kq7tvndrapqst@quillmere.example"
PHONE = "+16175550142"
SUBJECT = "Zorblatquinx vexmirefold"
BODY = "Obsidyankvel whosperquarx"


def _windows(secret: str, size: int = 6) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


# What a mask may keep (an e-mail's first letter and domain, a phone's country code and last
# two digits) is left out; any six characters in a row of the rest count as a leak.
SECRETS = sorted(
    _windows(EMAIL.split("@")[0][1:])
    | _windows(PHONE[2:-2])
    | {window for word in f"{SUBJECT} {BODY}".split() for window in _windows(word)}
)

SEED = (
    """
mutation Seed($a: CreateCustomerInput!, $b: CreateCustomerInput!, $sku: String!) {
  a: createCustomer(input: $a) { customer { id } errors { code } }
  b: createCustomer(input: $b) { customer { id } errors { code } }
  p: createProduct(input: {sku: $sku, name: "Kettle", price: "12.50", currency: "USD"}) {
    product { id } errors { code }
  }
}
""",
    {
        "a": {"name": NAME, "email": EMAIL, "phone": PHONE, "attributes": {"tier": "gold"}},
        "b": {"name": "Xylophane B.", "email": EMAIL, "phone": PHONE},
    },
)
SEED_MORE = """
mutation More(
  $customer: ID!, $product: ID!, $subject: String!, $body: String!, $calendar: String!
) {
  i: logInteraction(
    input: {customerId: $customer, channel: EMAIL, subject: $subject, body: $body}
  ) { errors { code } }
  o: placeOrder(input: {customerId: $customer, lines: [{productId: $product, quantity: 2}]}) {
    errors { code }
  }
  w: createWebhook(input: {url: "http://127.0.0.1:9/hook", eventTypes: []}) { errors { code } }
  c: createBusinessCalendar(input: {name: $calendar, timeZone: "Europe/Berlin", holidays:
    ["2026-12-25"], hours: [{day: "MONDAY", hours: ["09:00-17:00"]}]}) {
    calendar { id } errors { code }
  }
  t: createTicket(input: {customerId: $customer, subject: $subject, description: $body,
    priority: HIGH, tags: ["fuzz"]}) { ticket { id } errors { code } }
}
"""
# A default SLA policy, a reply with personal data, and a resolved ticket with its survey.
SEED_SERVICE = """
mutation Service($calendar: ID!, $ticket: ID!, $body: String!, $policy: String!) {
  p: createSlaPolicy(input: {name: $policy, calendarId: $calendar, isDefault: true,
    targets: [{priority: HIGH, firstResponseMinutes: 60, resolutionMinutes: 480}]}) {
    errors { code }
  }
  r: addTicketComment(input: {ticketId: $ticket, body: $body}) { errors { code } }
  s: changeTicketStatus(input: {id: $ticket, status: RESOLVED}) {
    ticket { survey { link } } errors { code }
  }
}
"""


async def seed(admin: GraphQLClient, number: int = 0) -> None:
    query, variables = SEED
    first = await admin.data(query, {**variables, "sku": f"SKU-{number}"})
    assert all(not payload["errors"] for payload in first.values()), first
    more = await admin.data(
        SEED_MORE,
        {
            "customer": first["a"]["customer"]["id"],
            "product": first["p"]["product"]["id"],
            "subject": SUBJECT,
            "body": BODY,
            "calendar": f"Office {number}",
        },
    )
    assert all(not payload["errors"] for payload in more.values()), more
    service = await admin.data(
        SEED_SERVICE,
        {
            "calendar": more["c"]["calendar"]["id"],
            "ticket": more["t"]["ticket"]["id"],
            "body": BODY,
            "policy": f"Standard {number}",
        },
    )
    assert all(not payload["errors"] for payload in service.values()), service
    link = service["s"]["ticket"]["survey"]["link"]
    answered = await admin.http.post(link, json={"rating": 4, "comment": BODY})
    assert answered.status_code < 300, answered.text


# --- hostile scalars -----------------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    "\u202eevil",
    "=1+1",
    "@SUM(A1)",
    "' OR 1=1 --",
    "%s%s%n",
    "{{7*7}}",
    "\\",
    '"',
    "a" * 5000,
    "é" * 3000,
    "Customer:1",
    "a@b.co",
    "+14155550123",
    "0",
    "-1",
    "1e400",
]


# Values that pass validation, so that mutations also commit and leave data to read back.
PLAUSIBLE_TEXT = [
    "Ada Lovelace",
    "ada@example.com",
    "+442079460958",
    "USD",
    "EUR",
    "SKU-2",
    "Hardware",
    "http://127.0.0.1:9/hook",
    "customer.created",
    "email",
    "lead",
]


# A document is refused whole when one of its values does not fit its type (or, for NUL,
# anywhere in it): such values come rarely, so that most documents run.
BREAKING_TEXT = ["\x00", "a\x00b", "\ud800", "x\udfffy"]


def mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``common`` about eight times as often as ``rare``."""
    return st.one_of(*[common] * 8, rare)


def text() -> st.SearchStrategy[str]:
    plain = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
    return mostly(
        st.one_of(plain, st.sampled_from(HOSTILE_TEXT), st.sampled_from(PLAUSIBLE_TEXT)),
        st.sampled_from(BREAKING_TEXT),
    )


TYPES = ["Customer", "Order", "Product", "Interaction", "Webhook", "ApiKey", "AnalyticsJob"]
TYPES += ["Ticket", "TicketComment", "SlaPolicy", "BusinessCalendar", "Survey", "WebForm", "Team"]


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


FORGED_IDS = [
    _b64("Customer:\u0661"),  # Arabic-Indic 1
    _b64("Customer:1"),  # padded
    _b64("Customer:01"),
    _b64("Customer:+1"),
    _b64("Customer: 1"),
    _b64("Customer:0"),
    _b64("Customer:-1"),
    _b64("Customer:2147483648"),
    _b64("Customer:" + "9" * 40),
    _b64("customer:1"),
    _b64("__proto__:1"),
    _b64("Customer:1:2"),
    "Customer:1",
    "!!!",
    "",
    "\x00",
    "A" * 3000,
]


def ids() -> st.SearchStrategy[str]:
    real = st.builds(
        lambda kind, pk: base64.urlsafe_b64encode(f"{kind}:{pk}".encode()).decode().rstrip("="),
        st.sampled_from(TYPES),
        st.integers(1, 6),
    )
    return mostly(real, st.sampled_from(FORGED_IDS))


def _deep(levels: int, kind: str) -> graphql.ValueNode:
    value: graphql.ValueNode = nodes.Int(1)
    for _ in range(levels):
        if kind == "list":
            value = nodes.List([value])
        else:
            value = nodes.Object(
                [graphql.ObjectFieldNode(name=graphql.NameNode(value="k"), value=value)]
            )
    return value


HUGE_NUMBERS = [
    graphql.IntValueNode(value="1" + "0" * 310),
    graphql.FloatValueNode(value="1e310"),
    graphql.FloatValueNode(value="-1e310"),
    graphql.FloatValueNode(value="1e-400"),
    graphql.IntValueNode(value=str(2**63)),
    graphql.IntValueNode(value=str(-(2**63) - 1)),
    graphql.FloatValueNode(value="0.1" + "1" * 400),
]


def json_values() -> st.SearchStrategy[graphql.ValueNode]:
    leaves = st.one_of(
        text().map(nodes.String),
        st.integers(-(2**70), 2**70).map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        st.booleans().map(nodes.Boolean),
        st.just(nodes.Null),
        st.sampled_from(HUGE_NUMBERS),
    )
    keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8).filter(
        lambda k: re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]*", k) is not None
    )
    nested = st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4).map(nodes.List),
            st.dictionaries(keys, children, max_size=4).map(
                lambda d: nodes.Object(
                    [
                        graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v)
                        for k, v in d.items()
                    ]
                )
            ),
        ),
        max_leaves=12,
    )
    # Built when drawn: hypothesis hashes sampled elements, and a deep node's hash recurses.
    deep = st.tuples(st.sampled_from([30, 100, 200]), st.sampled_from(["list", "object"])).map(
        lambda drawn: _deep(*drawn)
    )
    # Mostly objects: the JSON arguments (attributes, payload filters) take one.
    objects = st.dictionaries(keys, nested, min_size=1, max_size=4).map(
        lambda d: nodes.Object(
            [graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v) for k, v in d.items()]
        )
    )
    return mostly(st.one_of(objects, objects, nested), deep)


# Extreme but well-formed: these reach the domain. Malformed ones are refused at validation.
EXTREME_DATETIMES = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z",
    "2026-01-01T00:00:00",
]
MALFORMED_DATETIMES = ["+275760-09-13T00:00:00Z", "2026-02-30T00:00:00Z", "not a date", ""]
EXTREME_DATES = ["9999-12-31", "0001-01-01", "2024-02-29"]
MALFORMED_DATES = ["0000-00-00", "2026-02-29", "99999-01-01", ""]
DECIMALS = ["12.34", "0", "-0", "-1", "NaN", "Infinity", "-Infinity", "1e400", "1E+1000000"]
DECIMALS += ["0." + "0" * 40 + "1", "9" * 100, "1_000", " 1", "0x10"]


def custom_scalars() -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Every scalar of the schema, the built-in ones included, drawn hostile."""
    return {
        "String": text().map(nodes.String),
        "ID": ids().map(nodes.String),
        "Int": mostly(
            st.integers(0, 30),
            st.sampled_from([-1, 101, 2**31 - 1, -(2**31), 2**31, 10**30]),
        ).map(nodes.Int),
        "Float": mostly(
            st.floats(-1e6, 1e6).map(nodes.Float),
            st.sampled_from(HUGE_NUMBERS),
        ),
        "Boolean": st.booleans().map(nodes.Boolean),
        "JSON": json_values(),
        "DateTime": mostly(
            st.one_of(
                st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
                st.sampled_from(EXTREME_DATETIMES),
            ),
            st.sampled_from(MALFORMED_DATETIMES),
        ).map(nodes.String),
        "Date": mostly(
            st.one_of(st.dates().map(lambda d: d.isoformat()), st.sampled_from(EXTREME_DATES)),
            st.sampled_from(MALFORMED_DATES),
        ).map(nodes.String),
        "Decimal": st.one_of(
            st.decimals(-10000, 10000, places=2).map(str),
            st.sampled_from(DECIMALS),
        ).map(nodes.String),
    }


# --- checks ------------------------------------------------------------------------------

INTERNAL = re.compile(
    r"Traceback|File \"|\.py\b|\bline \d+, in\b"
    r"|\b(?:sqlalchemy|asyncpg|aiosqlite|sqlite3|psycopg|strawberry|graphql|crm_graph|"
    r"crm_analytics|crm_service|pydantic|starlette|uvicorn|orjson|builtins)\b"
    r"|\bSELECT\b.*\bFROM\b|\bINSERT INTO\b|\bUPDATE\b.*\bSET\b|\bDELETE FROM\b"
    r"|\b[A-Z][A-Za-z]*(?:Error|Exception|Warning)\b|\bStopIteration\b|\bKeyboardInterrupt\b",
    re.DOTALL,
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@dataclass
class Problems:
    """Failures of one response, each as ``(class, detail)``."""

    found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, kind: str, detail: str) -> None:
        self.found.append((kind, detail[:300]))


def check_response(response: httpx.Response, pii: bool, problems: Problems) -> Any:
    """The decoded body; records every rule the response breaks."""
    if response.status_code >= 500:
        problems.add("server error", f"HTTP {response.status_code}: {response.text[:200]}")
    try:
        body = response.json()
    except ValueError:
        problems.add("not JSON", response.text[:200])
        return None
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if not code:
            problems.add("error without code", error.get("message", ""))
        elif code == "INTERNAL_ERROR":  # masked, but an exception escaped: bad input got no
            problems.add("unexpected exception", json.dumps(error))  # typed user error
        for text_ in _strings({k: v for k, v in error.items() if k not in {"locations", "path"}}):
            if INTERNAL.search(text_):
                problems.add("internal text", text_)
    if not pii:
        raw = response.text
        decoded = json.dumps(body, ensure_ascii=False)
        for secret in SECRETS:
            if secret in raw or secret in decoded:
                problems.add("personal data without pii:read", _around(decoded, secret))
                break
    return body


def _around(text_: str, secret: str) -> str:
    at = text_.find(secret)
    return text_[max(0, at - 150) : at + 80] if at >= 0 else secret


# Everything stored must stay readable: every list (the newest page, the one a new row lands
# on), the events since the mutation, and every export.
READS = """
query Reads($after: String) {
  customers(last: 20) { totalCount nodes { id externalId name email phone company lifecycleStage
    tags attributes createdAt updatedAt deletedAt version ownerId
    interactions(last: 5) { nodes { id subject body occurredAt } } } }
  orders(last: 20) { nodes { id number status currency placedAt total { amount currency }
    lines { quantity unitPrice { amount currency } product { id sku } } customer { id } } }
  products(last: 20) { nodes { id sku name category price { amount currency } } }
  interactions(last: 20) { nodes { id channel direction subject body occurredAt } }
  events(after: $after, first: 100) { nodes { id type entityType entityId payload occurredAt } }
  webhooks(first: 20) { nodes { id url eventTypes } }
  auditLog(last: 20) { nodes { id operation targetIds } }
  duplicateCustomers(first: 20) { nodes { score pairs { score reasons { code message } } } }
  tickets(last: 20) { nodes { id subject description status priority channel tags
    firstResponseAt resolvedAt customer { id } statusChanges { from to at }
    comments { body public } survey { kind rating comment link }
    sla { firstResponseDueAt resolutionDueAt remaining state } } }
  serviceMetrics(from: "2026-01-01", to: "2026-12-31") { start created resolved backlog
    firstResponseMedian resolutionP90 slaAttainment csat nps }
  slaPolicies { id name }
  businessCalendars { id name holidays }
  apiKeys { id }
  eventStream { latestCursor }
}
"""


async def marks(admin: GraphQLClient) -> tuple[int, int]:
    """The newest audit row and event row: a mutation that moved neither committed nothing."""
    async with admin.app.state.crm.engine.connect() as connection:
        found = await connection.execute(
            text_sql(
                "SELECT (SELECT coalesce(max(id), 0) FROM audit_log), "
                "(SELECT coalesce(max(id), 0) FROM event_log)"
            )
        )
        audit, event = found.one()
        return audit, event


async def check_still_readable(admin: GraphQLClient, after: str, problems: Problems) -> str:
    """Read everything back as admin; returns the cursor to read the next events after."""
    result = await admin.execute(READS, {"after": after})
    for error in result.get("errors") or []:
        problems.add("stored data unreadable", f"{error.get('path')}: {error.get('message')}")
    crm = admin.app.state.crm
    for name, kind in data_kinds(crm.plugins).items():  # what `crm-graph export` offers
        for fmt in ("csv", "jsonl"):
            try:
                await export(crm.engine, kind, io.StringIO(), fmt)
            except Exception as exc:  # the export crashed: that is the finding
                problems.add("export fails", f"{name} {fmt}: {type(exc).__name__}: {exc}")
    stream = (result.get("data") or {}).get("eventStream")
    return stream["latestCursor"] if stream else after
