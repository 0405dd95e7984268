"""E-mail campaigns of the marketing plugin against a real SMTP server (aiosmtpd), over
GraphQL and the plugin's routes, on SQLite and PostgreSQL: consent decides who receives,
every message carries RFC 8058 one-click unsubscribe headers, the unsubscribe link withdraws
consent through the core's consent records, the suppressed and the messages in doubt are
counted, and a marketer without pii:read sends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

import crm_marketing
from crm_graph.settings import Settings
from crm_graph.testing import SMTP_DROP, GraphQLClient, SmtpInbox, app_client, smtp_server
from tests.marketing_support import create_segment, customer, events_of
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
