"""Inbound e-mail: the service plugin's SMTP listener (``CRM_PLUGIN_SERVICE_INBOUND_SMTP``)
turns mail into tickets and threads replies into comments, on SQLite and PostgreSQL. Mail is
sent with smtplib over loopback to the real listener the app's lifespan starts."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import SMTP

import pytest

import crm_service
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.service_support import new_customer, reply, set_status

TICKETS = """{ tickets(first: 50, orderBy: {field: CREATED_AT, direction: ASC}) { totalCount
  nodes { subject description channel status customer { id name email }
    comments { body public fromCustomer } } } }"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def desk(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[GraphQLClient, int]]:
    """An app with the service plugin listening for mail (at most 50 kB a message)."""
    port = free_port()
    monkeypatch.setenv("CRM_PLUGIN_SERVICE_INBOUND_SMTP", f"127.0.0.1:{port}")
    monkeypatch.setenv("CRM_PLUGIN_SERVICE_INBOUND_MAX_BYTES", "50000")
    async with app_client(settings, plugins=[crm_service]) as client:
        yield client, port


def mail(sender: str, subject: str, body: str, message_id: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "help@shop.example"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


async def send(port: int, message: EmailMessage | bytes, envelope_from: str = "") -> tuple:
    """The listener's reply to the message's DATA: ``(code, text)``."""

    def deliver() -> tuple:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo()
            raw = message if isinstance(message, bytes) else message.as_bytes(policy=SMTP)
            client.mail(envelope_from)
            client.rcpt("help@shop.example")
            return client.data(raw)

    return await asyncio.to_thread(deliver)


async def tickets(client: GraphQLClient) -> list[dict]:
    return (await client.data(TICKETS))["tickets"]["nodes"]


async def test_a_mail_opens_a_ticket_and_replies_thread_into_it(desk: tuple) -> None:
    client, port = desk
    first = mail("Grace Hopper <Grace@Navy.example>", "Broken kettle", "It sparks.", "<m1@navy>")
    assert (await send(port, first))[0] == 250
    [opened] = await tickets(client)
    assert opened["subject"] == "Broken kettle" and opened["description"] == "It sparks."
    assert opened["channel"] == "EMAIL" and opened["status"] == "NEW"
    # An unknown sender becomes a customer, named as the mail names her.
    assert opened["customer"]["name"] == "Grace Hopper"
    assert opened["customer"]["email"] == "grace@navy.example"

    # The same mail delivered twice (a retry after a lost 250) writes nothing.
    assert (await send(port, first))[0] == 250
    assert len(await tickets(client)) == 1

    ticket = (await client.data("{ tickets(first: 1) { nodes { id } } }"))["tickets"]
    ticket_id = ticket["nodes"][0]["id"]
    await reply(client, ticket_id, "Please send a photo.")
    assert not (await set_status(client, ticket_id, "PENDING"))["errors"]
    answer = mail(
        "grace@navy.example",
        "Re: Broken kettle",
        "Photo attached.",
        "<m2@navy>",
        In_Reply_To="<unknown@elsewhere>",
        References="<m1@navy> <unknown@elsewhere>",
    )
    assert (await send(port, answer))[0] == 250
    [threaded] = await tickets(client)
    assert threaded["status"] == "OPEN"  # the customer's reply reopens a pending ticket
    assert threaded["comments"][-1] == {
        "body": "Photo attached.",
        "public": True,
        "fromCustomer": True,
    }
    # A reply to the reply threads too (its In-Reply-To names the second mail).
    later = mail("grace@navy.example", "Re: Re", "Any news?", "<m3@navy>", In_Reply_To="<m2@navy>")
    assert (await send(port, later))[0] == 250
    [threaded] = await tickets(client)
    assert [c["body"] for c in threaded["comments"]][-2:] == ["Photo attached.", "Any news?"]


async def test_known_senders_get_their_customer_and_strangers_cannot_join_a_thread(
    desk: tuple,
) -> None:
    client, port = desk
    ada = await new_customer(client, "Ada Lovelace", email="ada@example.com")
    html = EmailMessage()
    html["From"] = "someone <ADA@example.com>"
    html["Subject"] = "  Invoice   missing  "
    html["Message-ID"] = "<a1@example.com>"
    html.set_content("<p>Where is my <b>invoice</b>?</p><script>x()</script>", subtype="html")
    assert (await send(port, html))[0] == 250
    # A reply naming Ada's mail, from another address, is not added to her ticket.
    intruder = mail(
        "eve@evil.example", "Re: Invoice", "Mine now", "<e1@evil>", In_Reply_To="<a1@example.com>"
    )
    assert (await send(port, intruder))[0] == 250
    first, second = await tickets(client)
    assert first["customer"]["id"] == ada and first["subject"] == "Invoice missing"
    assert " ".join(first["description"].split()) == "Where is my invoice ?"
    assert first["comments"] == []
    assert second["customer"]["email"] == "eve@evil.example" and second["subject"] == "Re: Invoice"

    # A reply to a closed ticket is a follow-up: a new ticket (a closed one takes no replies).
    ticket = await client.data("{ tickets(first: 1, orderBy: {direction: ASC}) { nodes { id } } }")
    ticket_id = ticket["tickets"]["nodes"][0]["id"]
    assert not (await set_status(client, ticket_id, "RESOLVED"))["errors"]
    assert not (await set_status(client, ticket_id, "CLOSED"))["errors"]
    follow_up = mail(
        "ada@example.com", "Re: Invoice", "Still nothing", "<a2@ex>", In_Reply_To="<a1@example.com>"
    )
    assert (await send(port, follow_up))[0] == 250
    found = await tickets(client)
    assert len(found) == 3 and found[2]["customer"]["id"] == ada
    assert found[2]["description"] == "Still nothing" and found[0]["comments"] == []


async def test_bad_mail_is_refused_with_an_smtp_error_and_writes_nothing(desk: tuple) -> None:
    client, port = desk
    no_sender = b"To: help@shop.example\r\nSubject: hi\r\n\r\nWho am I?\r\n"
    code, text = await send(port, no_sender, envelope_from="")
    assert code == 550 and b"no sender" in text
    garbage = b"From: \xff\xfe\x00<>\r\nSubject: \x00\r\nContent-Type: multipart/mixed\r\n\r\n\xff"
    assert (await send(port, garbage))[0] == 550
    long_text = mail("bob@example.com", "Essay", "a line of words\n" * 1500, "<b1@ex>")
    code, text = await send(port, long_text)
    assert code == 552 and b"too long" in text
    # Over CRM_PLUGIN_SERVICE_INBOUND_MAX_BYTES: refused by the listener as it reads.
    huge = mail("bob@example.com", "Big", "x" * 60 + "\n", "<b2@ex>")
    huge.add_attachment(b"\x00" * 60_000, maintype="application", subtype="octet-stream")
    assert (await send(port, huge))[0] == 552
    bad_address = mail("Bob <bob@@example..com>", "Hi", "Hello", "<b3@ex>")
    assert (await send(port, bad_address))[0] == 550

    assert await tickets(client) == []
    customers = await client.data("{ customers(first: 5) { totalCount } }")
    assert customers["customers"]["totalCount"] == 0
    # Nothing was recorded: the same sender's good mail is taken afterwards.
    assert (await send(port, mail("bob@example.com", "Hi", "Hello", "<b1@ex>")))[0] == 250
    assert len(await tickets(client)) == 1


async def test_the_listener_is_off_unless_configured(settings: Settings) -> None:
    async with app_client(settings, plugins=[crm_service]) as client:
        assert "service" not in client.app.state.crm.plugin_state


async def test_several_server_processes_share_the_port(desk: tuple, settings: Settings) -> None:
    """As the workers of ``crm-graph serve --workers 2`` do: both start, mail is taken."""
    client, port = desk
    async with app_client(settings, plugins=[crm_service], migrate=False) as second:
        assert "service" in second.app.state.crm.plugin_state
        for number in range(4):
            message = mail("kim@example.com", f"Hi {number}", "Hello", f"<k{number}@ex>")
            assert (await send(port, message))[0] == 250
    assert len(await tickets(client)) == 4
