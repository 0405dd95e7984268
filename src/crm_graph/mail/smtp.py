"""One SMTP delivery attempt and what its outcome means for the message.

The SMTP conversation is driven step by step (MAIL, RCPT, DATA) so a failure can be placed:
refused before DATA is certain (4xx: retry, 5xx: failed), but a connection that ends once the
message's data went out, before the server's final reply, leaves it *in doubt*.
"""

from __future__ import annotations

import email.policy
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from crm_graph.db.models import utcnow
from crm_graph.mail.models import OutboundEmail

Verdict = Literal["sent", "retry", "failed", "in_doubt"]


@dataclass(frozen=True)
class SmtpServer:
    """Where ``CRM_SMTP_URL`` points: ``smtp://[user:pass@]host[:port][?starttls=1]`` (port 25
    unless given; ``starttls=1`` requires STARTTLS) or ``smtps://...`` (implicit TLS, 465)."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("CRM_SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
        implicit = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes")
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            implicit_tls=implicit,
            starttls=starttls and not implicit,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    error: str | None = None


# Header lines may be 998 characters long (RFC 5322): folding at 78 would wrap a long URL in a
# header (List-Unsubscribe's, with its signed token) into RFC 2047 encoded words, which mail
# clients do not read as a URL.
LONG_HEADERS = email.policy.default.clone(max_line_length=998)


def mime_message(row: OutboundEmail) -> EmailMessage:
    """The message as sent: text, with the HTML as its alternative when there is one."""
    message = EmailMessage(policy=LONG_HEADERS)
    message["From"] = row.sender
    message["To"] = ", ".join(row.recipients)
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(utcnow())
    for name, value in row.headers.items():
        message[name] = value
    message.set_content(row.text_body)
    if row.html_body is not None:
        message.add_alternative(row.html_body, subtype="html")
    return message


async def send(server: SmtpServer, row: OutboundEmail, timeout: float) -> Outcome:
    """Deliver ``row`` once; never raises for what the server or the network does."""
    client = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        use_tls=server.implicit_tls,
        start_tls=server.starttls or None,  # None: upgrade when the server offers it
        username=server.username,
        password=server.password,
        timeout=timeout,
        tls_context=ssl.create_default_context(),  # SSL_CERT_FILE/SSL_CERT_DIR name the CAs
    )
    data_sent = False
    try:
        await client.connect()
        await client.mail(parseaddr(row.sender)[1])
        refused = []
        for recipient in row.recipients:
            try:
                await client.rcpt(parseaddr(recipient)[1])
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(exc)
        if len(refused) == len(row.recipients):
            return _refused(refused[0])
        data_sent = True
        await client.data(mime_message(row).as_bytes())
    except aiosmtplib.SMTPAuthenticationError as exc:  # our configuration, not the message
        return Outcome("retry", f"authentication failed: {exc.code} {exc.message}"[:1000])
    except aiosmtplib.SMTPResponseException as exc:
        return _refused(exc)
    except (aiosmtplib.SMTPException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
        return Outcome("in_doubt" if data_sent else "retry", error)
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    return Outcome("sent", _partly(refused))


def _partly(refused: list[aiosmtplib.SMTPRecipientRefused]) -> str | None:
    """Sent, but some recipients were refused: say which."""
    if not refused:
        return None
    return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refused)[:1000]


def _refused(exc: aiosmtplib.SMTPResponseException) -> Outcome:
    """The server answered: 5xx is permanent, anything else (4xx) is worth another try."""
    error = f"{exc.code} {exc.message}"[:1000]
    return Outcome("failed" if exc.code >= 500 else "retry", error)
