"""E-mail campaigns of the marketing plugin against a real SMTP server (aiosmtpd), over
GraphQL and the plugin's routes, on SQLite and PostgreSQL: consent decides who receives,
every message carries RFC 8058 one-click unsubscribe headers, the unsubscribe link withdraws
consent through the core's consent records, the suppressed and the messages in doubt are
counted, and a marketer without pii:read sends."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

import crm_marketing
from crm_graph.settings import Settings
from crm_graph.testing import SMTP_DROP, GraphQLClient, SmtpInbox, app_client, smtp_server
from tests.helpers import snapshot
from tests.marketing_support import create_segment, customer, events_of, order, product
from tests.smtp_support import eventually

CAMPAIGN = "id status stats { recipients queued sent delivered failed inDoubt suppressed suppressedNoConsent suppressedOnList suppressedNoEmail unsubscribed }"
CREATE = f"""
mutation ($input: CreateEmailCampaignInput!) {{
  createEmailCampaign(input: $input) {{ campaign {{ {CAMPAIGN} }} errors {{ code message field }} }}
}}
"""
SEND = f"""
mutation ($id: ID!) {{
  sendEmailCampaign(input: {{id: $id}}) {{ campaign {{ {CAMPAIGN} }} errors {{ code message field }} }}
}}
"""
READ = f"query ($id: ID!) {{ emailCampaign(id: $id) {{ {CAMPAIGN} sends {{ status reason customer {{ name email }} }} }} }}"
CONSENT = """
mutation ($id: ID!, $granted: Boolean!) {
  recordConsent(input: {customerId: $id, channel: EMAIL, granted: $granted, source: "form"}) {
    errors { code }
  }
}
"""
CONSENTS = "query ($id: ID!) { customer(id: $id) { consents { channel granted source } } }"
HTML = '<p>Hello {{ customer.first_name }}!</p>\n<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
TEXT = "Hello {{ customer.name }}, our {{ campaign.name }} is here.\nUnsubscribe: {{ unsubscribe_url }}"


@pytest.fixture
async def mailbox(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[GraphQLClient, SmtpInbox]]:
    monkeypatch.setenv("CRM_PLUGIN_MARKETING_FOLLOW_SECONDS", "0.25")
    monkeypatch.setenv("CRM_PLUGIN_MARKETING_SEND_RATE", "50")
    monkeypatch.setenv("CRM_PLUGIN_MARKETING_PUBLIC_URL", "http://testserver")
    with smtp_server() as (inbox, port):
        configured = settings.model_copy(
            update={
                "smtp_url": SecretStr(f"smtp://127.0.0.1:{port}"),
                "smtp_poll_seconds": 0.25,
                "smtp_retry_seconds": 0.25,
                "roles": {
                    "marketer": [
                        "segments:read",
                        "segments:write",
                        "campaigns:read",
                        "campaigns:write",
                        "campaigns:send",
                        "customers:read",
                    ]
                },
            }
        )
        async with app_client(configured, plugins=[crm_marketing]) as client:
            yield client, inbox


async def audience(client: GraphQLClient) -> tuple[dict[str, str], str]:
    """Five customers on a static list: Ada and Ed may be e-mailed; Bob withdrew his consent,
    Cy has no address, Di never gave consent."""
    people = {
        "Ada": await customer(client, "Ada Lovelace", email="ada@example.com"),
        "Bob": await customer(client, "Bob", email="bob@example.com"),
        "Cy": await customer(client, "Cy"),
        "Di": await customer(client, "Di", email="di@example.com"),
        "Ed": await customer(client, "Ed <3", email="ed@example.com"),
    }
    for name in ("Ada", "Bob", "Cy", "Ed"):
        await client.data(CONSENT, {"id": people[name], "granted": True})
    await client.data(CONSENT, {"id": people["Bob"], "granted": False})
    made = await create_segment(client, name="Everyone", kind="STATIC")
    segment = made["segment"]["id"]
    await client.data(
        "mutation ($input: AudienceSegmentMembersInput!) { addAudienceSegmentMembers(input: $input) { errors { code } } }",
        {"input": {"segmentId": segment, "customers": list(people.values())}},
    )
    return people, segment


async def campaign(
    client: GraphQLClient, segment: str, name: str = "Spring sale", **input: Any
) -> dict:
    payload = (
        await client.data(
            CREATE,
            {
                "input": {
                    "name": name,
                    "segmentId": segment,
                    "subject": "{{ customer.first_name }}, the {{ campaign.name }}",
                    "sender": "Shop <news@shop.example>",
                    "textTemplate": TEXT,
                    "htmlTemplate": HTML,
                    **input,
                }
            },
        )
    )["createEmailCampaign"]
    assert payload["errors"] == [], payload["errors"]
    return payload["campaign"]


async def sent(client: GraphQLClient, campaign_id: str) -> dict:
    """The campaign once it is sent and every message's fate is known."""

    async def settled() -> dict | None:
        found = (await client.data(READ, {"id": campaign_id}))["emailCampaign"]
        return found if found["status"] == "SENT" and found["stats"]["queued"] == 0 else None

    return await eventually(settled, timeout=30)


async def test_a_campaign_reaches_the_consented_with_one_click_unsubscribe(
    mailbox: tuple[GraphQLClient, SmtpInbox],
) -> None:
    client, inbox = mailbox
    people, segment = await audience(client)
    spring = await campaign(client, segment)
    assert spring["status"] == "DRAFT"
    started = (await client.data(SEND, {"id": spring["id"]}))["sendEmailCampaign"]
    assert started["errors"] == [] and started["campaign"]["status"] == "SCHEDULED"

    done = await sent(client, spring["id"])
    assert done["stats"] == {
        "recipients": 5,
        "queued": 0,
        "sent": 2,
        "delivered": 2,
        "failed": 0,
        "inDoubt": 0,
        "suppressed": 3,
        "suppressedNoConsent": 2,
        "suppressedOnList": 0,
        "suppressedNoEmail": 1,
        "unsubscribed": 0,
    }
    reasons = sorted((s["customer"]["name"], s["status"], s["reason"]) for s in done["sends"])
    assert reasons == [
        ("Ada Lovelace", "SENT", None),
        ("Bob", "SUPPRESSED", "no_consent"),
        ("Cy", "SUPPRESSED", "no_email"),
        ("Di", "SUPPRESSED", "no_consent"),
        ("Ed <3", "SENT", None),
    ]
    by_to = {m["To"]: m for m in inbox.received}
    assert sorted(by_to) == ["ada@example.com", "ed@example.com"]
    ed = by_to["ed@example.com"]
    assert ed["From"] == "Shop <news@shop.example>" and ed["Subject"] == "Ed, the Spring sale"
    assert ed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = ed["List-Unsubscribe"].strip("<>")
    assert link.startswith("http://testserver/p/marketing/unsubscribe/")
    text, html = (part.get_payload(decode=True).decode() for part in ed.get_payload())
    assert text.startswith("Hello Ed <3, our Spring sale is here.") and link in text
    assert "<p>Hello Ed!</p>" in html and "Hello Ed &lt;3" not in html
    delivered = await eventually(lambda: events_of(client, "email.delivered"))
    assert sorted(e["entityId"] for e in delivered) == sorted([people["Ada"], people["Ed"]])
    [finished] = await events_of(client, "campaign.sent")
    assert finished["payload"] == {"campaignId": spring["id"], "queued": 2, "suppressed": 3}

    # A GET (a person, or a scanner fetching links) only shows the button.
    path = link.removeprefix("http://testserver")
    anonymous = {"Authorization": ""}
    page = await client.http.get(path, headers=anonymous)
    assert page.status_code == 200 and 'method="post"' in page.text
    assert (await client.data(CONSENTS, {"id": people["Ed"]}))["customer"]["consents"][0]["granted"]
    # The mail client's one-click POST (RFC 8058) withdraws the consent, once.
    for _ in range(2):
        done_page = await client.http.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={**anonymous, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert done_page.status_code == 200 and "Unsubscribed" in done_page.text
    consents = (await client.data(CONSENTS, {"id": people["Ed"]}))["customer"]["consents"]
    assert [(c["granted"], c["source"].split(",")[0]) for c in consents] == [
        (False, "unsubscribe link"),
        (True, "form"),
    ]
    [unsubscribed] = await events_of(client, "email.unsubscribed")
    assert unsubscribed["entityId"] == people["Ed"]
    assert (await client.data(READ, {"id": spring["id"]}))["emailCampaign"]["stats"][
        "unsubscribed"
    ] == 1
    forged = await client.http.post(path[:-3] + "abc", headers=anonymous)
    assert forged.status_code == 400

    # Consent given again by an admin does not lift the suppression of the address.
    await client.data(CONSENT, {"id": people["Ed"], "granted": True})
    summer = await campaign(client, segment, name="Summer")
    await client.data(SEND, {"id": summer["id"]})
    again = await sent(client, summer["id"])
    assert (again["stats"]["sent"], again["stats"]["suppressedOnList"]) == (1, 1)
    assert [m["To"] for m in inbox.received].count("ed@example.com") == 1


async def test_template_mistakes_are_refused_at_save_with_their_line(
    mailbox: tuple[GraphQLClient, SmtpInbox],
) -> None:
    client, _inbox = mailbox
    _people, segment = await audience(client)
    answer = await client.data(
        CREATE,
        {
            "input": {
                "name": "Broken",
                "segmentId": segment,
                "subject": "Hi {{ customer.name",
                "sender": "not an address",
                "textTemplate": "Line one\n{{ customer.__class__.__mro__ }}",
                "htmlTemplate": "<p>\n{% if %}</p>",
            }
        },
    )
    errors = answer["createEmailCampaign"]["errors"]
    assert [(e["code"], ".".join(e["field"])) for e in errors] == [
        ("INVALID_EMAIL", "input.sender"),
        ("INVALID_TEMPLATE", "input.subject"),
        ("INVALID_TEMPLATE", "input.textTemplate"),
        ("INVALID_TEMPLATE", "input.htmlTemplate"),
    ]
    assert errors[2]["message"].startswith("line 2: SecurityError")
    assert errors[3]["message"].startswith("line 2:")
    assert (await client.data("{ emailCampaigns { id } }"))["emailCampaigns"] == []


async def test_a_marketer_without_pii_read_sends_and_messages_in_doubt_are_counted(
    mailbox: tuple[GraphQLClient, SmtpInbox],
) -> None:
    client, inbox = mailbox
    _people, segment = await audience(client)
    marketer = client.acting_as("marketer")
    made = await campaign(marketer, segment)
    inbox.answers = [SMTP_DROP]  # the first message's data arrives; the reply never does
    assert (await marketer.data(SEND, {"id": made["id"]}))["sendEmailCampaign"]["errors"] == []
    done = await sent(marketer, made["id"])
    assert (done["stats"]["sent"], done["stats"]["inDoubt"]) == (1, 1)
    assert inbox.data_seen == 2 and len(inbox.received) == 1
    emails = sorted(s["customer"]["email"] or "" for s in done["sends"])
    assert all("*" in e for e in emails if e), emails  # masked for a caller without pii:read
    # The one in doubt is never resent on its own.
    await eventually(lambda: events_of(client, "email.delivered"))
    assert inbox.data_seen == 2


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def links_of(message: Any) -> tuple[str, list[str]]:
    """The open pixel's path and the tracked links' paths of a received message's HTML."""
    html = message.get_payload()[1].get_payload(decode=True).decode()
    pixel = re.search(r'<img src="http://testserver(/p/marketing/o/[^"]+)"', html)
    clicks = re.findall(r'href="http://testserver(/p/marketing/c/[^"]+)"', html)
    assert pixel is not None, html
    return pixel.group(1), clicks


async def touch(client: GraphQLClient, path: str) -> Any:
    answer = await client.http.get(path, headers={"Authorization": ""})
    assert answer.status_code in (200, 302), answer.text
    return answer


async def test_opens_clicks_and_attributed_orders_make_exact_stats(
    mailbox: tuple[GraphQLClient, SmtpInbox],
) -> None:
    """The hand-checked fixture: Ada's order before her click and the one 8 days after it are
    not the campaign's; Bob opened A and then clicked B (the last touch wins); Cy's refunded
    order brings nothing and her EUR order counts in EUR; Di never opened; B cost nothing."""
    client, inbox = mailbox
    names = ("Ada", "Bob", "Cy", "Di")
    people = {n: await customer(client, n, email=f"{n.lower()}@example.com") for n in names}
    for person in people.values():
        await client.data(CONSENT, {"id": person, "granted": True})
    everyone = (await create_segment(client, name="All", kind="STATIC"))["segment"]["id"]
    only_bob = (await create_segment(client, name="Bob", kind="STATIC"))["segment"]["id"]
    members = "mutation ($input: AudienceSegmentMembersInput!) { addAudienceSegmentMembers(input: $input) { errors { code } } }"
    await client.data(
        members, {"input": {"segmentId": everyone, "customers": list(people.values())}}
    )
    await client.data(members, {"input": {"segmentId": only_bob, "customers": [people["Bob"]]}})
    shop_link = '<p><a href="https://shop.example/spring?utm=mail&amp;x=1">Shop</a></p>'
    a = await campaign(
        client, everyone, name="A", htmlTemplate=shop_link + HTML, cost="100", currency="USD"
    )
    await client.data(SEND, {"id": a["id"]})
    await sent(client, a["id"])
    mail = {m["To"]: m for m in inbox.received}

    _pixel, [ada_click] = links_of(mail["ada@example.com"])
    redirect = await touch(client, ada_click)
    assert redirect.headers["location"] == "https://shop.example/spring?utm=mail&x=1"
    await touch(client, ada_click)  # a second click: a touch, no second interaction
    await touch(client, links_of(mail["bob@example.com"])[0])
    await touch(client, links_of(mail["cy@example.com"])[1][0])
    tampered = ada_click[:-4] + ("AAAA" if not ada_click.endswith("AAAA") else "BBBB")
    assert (await client.http.get(tampered, headers={"Authorization": ""})).status_code == 400

    b = await campaign(client, only_bob, name="B", htmlTemplate=shop_link + HTML)
    await client.data(SEND, {"id": b["id"]})
    await sent(client, b["id"])
    [bob_b] = [m for m in inbox.received if m["Subject"] == "Bob, the B"]
    await touch(client, links_of(bob_b)[1][0])

    usd = await product(client, "P", "5")
    eur = await product(client, "E", "25", "EUR")
    await order(client, people["Ada"], usd, 3, placed_at=in_days(-1))  # before the click
    await order(client, people["Ada"], usd, 10, placed_at=in_days(2))  # 50 USD: A
    await order(client, people["Ada"], usd, 6, placed_at=in_days(8))  # outside the window
    await order(client, people["Bob"], usd, 14, placed_at=in_days(1))  # 70 USD: B, last touch
    await order(client, people["Cy"], usd, 8, status="REFUNDED", placed_at=in_days(3))
    await order(client, people["Cy"], eur, 1, placed_at=in_days(4), currency="EUR")  # A
    await order(client, people["Di"], usd, 2, placed_at=in_days(1))  # never touched

    returns = "opened clicked ordered revenue { amount currency } cost { amount currency } roi returns { currency orders revenue { amount } roi }"
    query = f"query ($id: ID!) {{ emailCampaign(id: $id) {{ stats {{ sent {returns} }} }} }}"
    stats_a = (await client.data(query, {"id": a["id"]}))["emailCampaign"]["stats"]
    assert stats_a == {
        "sent": 4,
        "opened": 3,
        "clicked": 2,
        "ordered": 2,
        "revenue": [{"amount": "25.00", "currency": "EUR"}, {"amount": "50.00", "currency": "USD"}],
        "cost": {"amount": "100.00", "currency": "USD"},
        "roi": -0.5,
        "returns": [
            {"currency": "EUR", "orders": 1, "revenue": {"amount": "25.00"}, "roi": None},
            {"currency": "USD", "orders": 1, "revenue": {"amount": "50.00"}, "roi": -0.5},
        ],
    }
    stats_b = (await client.data(query, {"id": b["id"]}))["emailCampaign"]["stats"]
    assert stats_b == {
        "sent": 1,
        "opened": 1,
        "clicked": 1,
        "ordered": 1,
        "revenue": [{"amount": "70.00", "currency": "USD"}],
        "cost": {"amount": "0.00", "currency": "USD"},
        "roi": None,  # zero cost: no ROI, not an infinite one
        "returns": [{"currency": "USD", "orders": 1, "revenue": {"amount": "70.00"}, "roi": None}],
    }
    interactions = await client.data(
        "query ($id: ID!) { customer(id: $id) { interactions { nodes { channel direction subject } } } }",
        {"id": people["Ada"]},
    )
    assert interactions["customer"]["interactions"]["nodes"] == [
        {
            "channel": "EMAIL",
            "direction": "INBOUND",
            "subject": "Clicked https://shop.example/spring?utm=mail&x=1 in the e-mail 'A'",
        }
    ]
    assert [e["entityId"] for e in await events_of(client, "email.opened")] == [people["Bob"]]
    clicks = await events_of(client, "email.clicked")
    assert [e["entityId"] for e in clicks] == [people["Ada"], people["Cy"], people["Bob"]]


async def test_erasure_keeps_only_the_suppression_hash_and_a_merge_moves_the_history(
    mailbox: tuple[GraphQLClient, SmtpInbox],
) -> None:
    client, inbox = mailbox
    people, segment = await audience(client)
    spring = await campaign(client, segment)
    await client.data(SEND, {"id": spring["id"]})
    await sent(client, spring["id"])
    ed = next(m for m in inbox.received if m["To"] == "ed@example.com")
    unsubscribe = ed["List-Unsubscribe"].strip("<>").removeprefix("http://testserver")
    await client.http.post(unsubscribe, headers={"Authorization": ""})
    await touch(
        client, links_of(next(m for m in inbox.received if m["To"] == "ada@example.com"))[0]
    )

    erase = "mutation ($id: ID!) { eraseCustomer(input: {id: $id}) { errors { code } } }"
    assert (await client.data(erase, {"id": people["Ed"]}))["eraseCustomer"]["errors"] == []
    stats = (await client.data(READ, {"id": spring["id"]}))["emailCampaign"]
    assert stats["stats"]["recipients"] == 4 and stats["stats"]["unsubscribed"] == 0
    rows = await snapshot(client)
    marketing = {name: found for name, found in rows.items() if name.startswith("marketing_")}
    assert "ed@example.com" not in repr(marketing) and len(marketing["marketing_suppression"]) == 1

    # Ed comes back with the same address and a consent: the hash still suppresses it.
    again = await customer(client, "Ed again", email="ed@example.com")
    await client.data(CONSENT, {"id": again, "granted": True})
    await client.data(
        "mutation ($input: AudienceSegmentMembersInput!) { addAudienceSegmentMembers(input: $input) { errors { code } } }",
        {"input": {"segmentId": segment, "customers": [again]}},
    )
    summer = await campaign(client, segment, name="Summer")
    await client.data(SEND, {"id": summer["id"]})
    assert (await sent(client, summer["id"]))["stats"]["suppressedOnList"] == 1

    # Ada merged into Bob: her list membership, sends and opens are Bob's now.
    merged = await client.data(
        "mutation ($s: ID!, $m: [ID!]!) { mergeCustomers(input: {survivorId: $s, mergedIds: $m}) { errors { code } } }",
        {"s": people["Bob"], "m": [people["Ada"]]},
    )
    assert merged["mergeCustomers"]["errors"] == []
    read = "query ($id: ID!) { emailCampaign(id: $id) { stats { opened recipients } sends { status customer { name } } } }"
    after = (await client.data(read, {"id": spring["id"]}))["emailCampaign"]
    assert after["stats"] == {"opened": 1, "recipients": 3}
    bob_sends = [s["status"] for s in after["sends"] if s["customer"]["name"] == "Bob"]
    assert bob_sends == ["SENT"]  # Bob's own row stays; Ada's open moved onto it


async def test_an_ab_test_names_the_winner_by_conversion_with_its_statistic(
    mailbox: tuple[GraphQLClient, SmtpInbox],
) -> None:
    """Variant B (another subject) goes to a share of recipients; its recipients click and
    buy, A's do not: B wins, with the two-proportion z statistic computed from the arms."""
    client, inbox = mailbox
    people = [await customer(client, f"P{n}", email=f"p{n}@example.com") for n in range(20)]
    for person in people:
        await client.data(CONSENT, {"id": person, "granted": True})
    everyone = (await create_segment(client, name="All", kind="STATIC"))["segment"]["id"]
    await client.data(
        "mutation ($input: AudienceSegmentMembersInput!) { addAudienceSegmentMembers(input: $input) { errors { code } } }",
        {"input": {"segmentId": everyone, "customers": people}},
    )
    link = '<p><a href="https://shop.example/sale">Sale</a></p>'
    made = await campaign(
        client,
        everyone,
        name="AB",
        htmlTemplate=link,
        variantSubject="Last chance, {{ customer.first_name }}",
        variantSplit=0.5,
    )
    await client.data(SEND, {"id": made["id"]})
    await sent(client, made["id"])
    widget = await product(client, "W", "10")
    by_address = {f"p{n}@example.com": person for n, person in enumerate(people)}
    b_side = [m for m in inbox.received if m["Subject"].startswith("Last chance")]
    a_side = [m for m in inbox.received if not m["Subject"].startswith("Last chance")]
    assert b_side and a_side and len(b_side) + len(a_side) == 20
    for message in b_side:
        await touch(client, links_of(message)[1][0])
        await order(client, by_address[message["To"]], widget, 1, placed_at=in_days(1))
    query = "query ($id: ID!) { emailCampaign(id: $id) { abTest { variants { name recipients conversions conversionRate } zScore pValue winner } sends { variant } } }"
    found = (await client.data(query, {"id": made["id"]}))["emailCampaign"]
    test = found["abTest"]
    n_a, n_b = len(a_side), len(b_side)
    assert test["variants"] == [
        {"name": "A", "recipients": n_a, "conversions": 0, "conversionRate": 0.0},
        {"name": "B", "recipients": n_b, "conversions": n_b, "conversionRate": 1.0},
    ]
    pooled = n_b / 20
    z = 1.0 / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    assert test["zScore"] == pytest.approx(z)
    assert test["pValue"] == pytest.approx(math.erfc(z / math.sqrt(2))) and test["pValue"] < 0.05
    assert test["winner"] == "B"
    assert sorted(s["variant"] for s in found["sends"]) == ["A"] * n_a + ["B"] * n_b
