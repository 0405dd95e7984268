"""Outbound e-mail against a real SMTP server (aiosmtpd), on both databases: a plugin queues
messages in its unit of work through ``crm_graph.plugin.queue_email``; the server's background
deliverer sends them; admins follow them with ``outboundEmails`` and settle those in doubt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import strawberry
from pydantic import SecretStr
from strawberry.types import Info

from crm_graph.plugin import (
    PluginMetadata,
    SchemaContribution,
    UserError,
    count_emails,
    hookimpl,
    perform,
    queue_email,
    requires,
)
from crm_graph.settings import Settings
from crm_graph.testing import SMTP_DROP, GraphQLClient, app_client, smtp_server
from tests.smtp_support import eventually, self_signed

UNSUBSCRIBE = "<https://crm.example/p/marketing/unsubscribe/tok>"


@strawberry.type
class SentPayload:
    message_id: str | None
    counts: strawberry.scalars.JSON | None
    errors: list[UserError]


@strawberry.type
class MailMutations:
    @strawberry.mutation(metadata=requires("customers:write"))
    async def send_mail(
        self, info: Info, to: str, subject: str, tag: str = "t", fail: bool = False
    ) -> SentPayload:
        async def work(session: Any) -> tuple[str, dict[str, int]]:
            queued = await queue_email(
                session,
                owner="mailer",
                sender="CRM <crm@shop.example>",
                to=to,
                subject=subject,
                text="Plain words.",
                html="<p>Rich <b>words</b>.</p>",
                reply_to="help@shop.example",
                headers={
                    "List-Unsubscribe": UNSUBSCRIBE,
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                tag=tag,
            )
            if fail:
                raise RuntimeError("the business change failed after queueing")
            return queued.message_id, await count_emails(session, "mailer", tag)

        result, errors = await perform(info, work)
        message_id, counts = result or (None, None)
        return SentPayload(message_id=message_id, counts=counts, errors=errors)


class MailPlugin:
    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="mailer", version="1.0", requires_core=">=0.1")

    @hookimpl
    def crm_schema(self) -> SchemaContribution:
        return SchemaContribution(extend={"Mutation": [MailMutations]})


SEND = """mutation ($to: String!, $subject: String!, $fail: Boolean! = false, $tag: String! = "t") {
  sendMail(to: $to, subject: $subject, fail: $fail, tag: $tag) {
    messageId counts errors { code field }
  }
}"""
EMAILS = """query ($status: OutboundEmailStatus, $tag: String) {
  outboundEmails(status: $status, tag: $tag) {
    totalCount edges { node { id messageId status attempts lastError to tag owner } }
  }
}"""
SETTLE = """mutation ($id: ID!, $action: OutboundEmailSettlement!) {
  settleOutboundEmail(input: {id: $id, action: $action}) { email { status } errors { code } }
}"""


def mail_settings(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": SecretStr(url),
            "smtp_retry_seconds": 0.05,
            "smtp_poll_seconds": 0.25,
            "smtp_timeout_seconds": 5.0,
            "smtp_max_attempts": 3,
        }
    )


async def send(client: GraphQLClient, subject: str, **extra: Any) -> dict[str, Any]:
    variables = {"to": "ada@example.com", "subject": subject, **extra}
    return (await client.data(SEND, variables))["sendMail"]


async def emails(client: GraphQLClient, **variables: Any) -> list[dict[str, Any]]:
    found = (await client.data(EMAILS, variables))["outboundEmails"]
    return [edge["node"] for edge in found["edges"]]


async def settled(client: GraphQLClient, status: str) -> list[dict[str, Any]]:
    return await eventually(lambda: emails(client, status=status))


async def test_a_queued_message_arrives_with_its_headers_and_both_bodies(
    settings: Settings,
) -> None:
    with smtp_server() as (inbox, port):
        config = mail_settings(settings, f"smtp://127.0.0.1:{port}")
        async with app_client(config, plugins=[MailPlugin()]) as client:
            sent = await send(client, "Welcome")
            assert sent["errors"] == [] and sent["counts"]["queued"] == 1
            [row] = await settled(client, "SENT")
            assert row["messageId"] == sent["messageId"] and row["attempts"] == 1
            assert row["to"] == ["ada@example.com"] and row["owner"] == "mailer"
    [message] = inbox.received
    assert message["Message-ID"] == sent["messageId"]
    assert message["From"] == "CRM <crm@shop.example>" and message["To"] == "ada@example.com"
    assert message["Reply-To"] == "help@shop.example"
    assert message["List-Unsubscribe"] == UNSUBSCRIBE
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    assert text.strip() == "Plain words." and html.strip() == "<p>Rich <b>words</b>.</p>"


async def test_nothing_is_queued_when_the_unit_of_work_rolls_back(settings: Settings) -> None:
    with smtp_server() as (inbox, port):
        config = mail_settings(settings, f"smtp://127.0.0.1:{port}")
        async with app_client(config, plugins=[MailPlugin()]) as client:
            failed = await client.execute(
                SEND, {"to": "a@example.com", "subject": "x", "fail": True}
            )
            assert failed["errors"]
            await send(client, "after")
            await settled(client, "SENT")
            assert [row["status"] for row in await emails(client)] == ["SENT"]
    assert [m["Subject"] for m in inbox.received] == ["after"]


async def test_a_bad_address_is_a_user_error_and_queues_nothing(settings: Settings) -> None:
    async with app_client(settings, plugins=[MailPlugin()]) as client:
        sent = await send(client, "x", to="not an address")
        assert sent["errors"] == [{"code": "INVALID_EMAIL", "field": ["email", "to", "0"]}]
        assert await emails(client) == []


async def test_a_temporary_refusal_is_retried_until_delivered(settings: Settings) -> None:
    with smtp_server() as (inbox, port):
        inbox.answers = ["451 4.3.0 try again later", "421 4.3.2 busy"]
        config = mail_settings(settings, f"smtp://127.0.0.1:{port}")
        async with app_client(config, plugins=[MailPlugin()]) as client:
            await send(client, "Retried")
            [row] = await settled(client, "SENT")
            assert row["attempts"] == 3
    assert inbox.data_seen == 3 and len(inbox.by_subject("Retried")) == 1


async def test_a_permanent_refusal_fails_without_a_retry(settings: Settings) -> None:
    with smtp_server() as (inbox, port):
        inbox.answers = ["550 5.1.1 no such mailbox"]
        config = mail_settings(settings, f"smtp://127.0.0.1:{port}")
        async with app_client(config, plugins=[MailPlugin()]) as client:
            await send(client, "Refused", tag="c1")
            [row] = await settled(client, "FAILED")
            assert row["attempts"] == 1 and row["lastError"].startswith("550 5.1.1")
            counts = (await send(client, "next", tag="c1"))["counts"]
            assert counts["failed"] == 1
            await eventually(lambda: inbox.by_subject("next"))
    assert inbox.data_seen == 2


async def test_a_dropped_connection_after_data_leaves_the_message_in_doubt(
    settings: Settings,
) -> None:
    with smtp_server() as (inbox, port):
        inbox.answers = [SMTP_DROP]
        config = mail_settings(settings, f"smtp://127.0.0.1:{port}")
        async with app_client(config, plugins=[MailPlugin()]) as client:
            await send(client, "Doubtful", tag="campaign-7")
            [row] = await settled(client, "IN_DOUBT")
            assert row["attempts"] == 1 and row["tag"] == "campaign-7"
            # Counted for its owner, and not resent: later mail goes out, this one stays.
            after = await send(client, "Later", tag="campaign-7")
            await settled(client, "SENT")
            assert after["counts"]["in_doubt"] == 1
            assert [r["status"] for r in await emails(client, tag="campaign-7")] == [
                "SENT",
                "IN_DOUBT",
            ]
            assert inbox.data_seen == 2
            # An admin decides: resend it (same Message-ID).
            settle = await client.data(SETTLE, {"id": row["id"], "action": "RESEND"})
            assert settle["settleOutboundEmail"]["errors"] == []
            await eventually(lambda: inbox.by_subject("Doubtful"))
            [again] = inbox.by_subject("Doubtful")
            assert again["Message-ID"] == row["messageId"]
            refused = await client.data(SETTLE, {"id": row["id"], "action": "SENT"})
            assert refused["settleOutboundEmail"]["errors"] == [{"code": "INVALID_STATUS"}]


async def test_starttls_with_authentication(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, tls = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the CA the client trusts
    with smtp_server(tls, login=("mailer", "s3cret")) as (inbox, port):
        url = f"smtp://mailer:s3cret@127.0.0.1:{port}?starttls=1"
        config = mail_settings(settings, url)
        async with app_client(config, plugins=[MailPlugin()]) as client:
            await send(client, "Secure")
            await settled(client, "SENT")
    assert len(inbox.by_subject("Secure")) == 1


async def test_wrong_credentials_are_retried_not_failed(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, tls = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with smtp_server(tls, login=("mailer", "s3cret")) as (inbox, port):
        config = mail_settings(settings, f"smtp://mailer:wrong@127.0.0.1:{port}?starttls=1")
        async with app_client(config, plugins=[MailPlugin()]) as client:
            await send(client, "Nope")
            [row] = await settled(client, "FAILED")  # after smtp_max_attempts tries
            assert row["attempts"] == 3 and "authentication failed" in row["lastError"]
    assert inbox.received == []
