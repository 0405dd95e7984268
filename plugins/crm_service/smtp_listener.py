"""The inbound e-mail listener: an aiosmtpd server on the app's own event loop, started with
``crm-graph serve`` when ``CRM_PLUGIN_SERVICE_INBOUND_SMTP`` names where to listen.

SMTP gives each refusal a reply code, so a bad mail is answered at once and the sending
server tells its author: no sender 550, too big 552 (aiosmtpd checks the size while reading),
unreadable 550; a failure of our own 451, which makes the sender retry later. The mail is
answered 250 only once its ticket or reply is committed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from crm_graph.plugin import AppContext
from crm_service import inbound_mail
from crm_service.config import NAME, ServiceSettings

log = logging.getLogger(__name__)


class TicketHandler:
    """aiosmtpd's handler: each mail's DATA becomes a ticket or a reply, in one unit of work."""

    def __init__(self, app: AppContext) -> None:
        self.app = app

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """aiosmtpd calls it by this name once the whole message is read."""
        raw = envelope.original_content or b""
        try:
            async with self.app.write() as db:
                taken = await inbound_mail.take(db, self.app, raw, envelope.mail_from)
        except inbound_mail.Refused as refused:
            log.warning("inbound e-mail refused (%s): %s", session.peer, refused.reply)
            return refused.reply
        except Exception:
            log.exception("inbound e-mail failed (%s); the sender will retry", session.peer)
            return "451 4.3.0 the message could not be taken now; try again later"
        if taken.duplicate:
            log.info("inbound e-mail taken before (same Message-ID): nothing written")
        return "250 2.0.0 OK"


def _address(where: str) -> tuple[str, int]:
    host, _, port = where.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


async def start(app: AppContext) -> None:
    """Listen when configured; the server is kept in the plugin's state for :func:`stop`."""
    settings: ServiceSettings = app.plugin_settings(NAME)
    if not settings.inbound_smtp:
        return
    host, port = _address(settings.inbound_smtp)
    handler = TicketHandler(app)

    def protocol() -> Any:
        return SMTP(
            handler,
            data_size_limit=settings.inbound_max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="crm-graph service",
        )

    # Every worker of `crm-graph serve --workers N` listens on the one port; the kernel
    # shares the connections out between them.
    server = await asyncio.get_running_loop().create_server(
        protocol, host, port, reuse_port=hasattr(socket, "SO_REUSEPORT")
    )
    app.plugin_state[NAME] = server
    log.info("inbound e-mail: listening on %s", settings.inbound_smtp)


async def stop(app: AppContext) -> None:
    server = app.plugin_state.pop(NAME, None)
    if server is not None:
        server.close()
        await server.wait_closed()
