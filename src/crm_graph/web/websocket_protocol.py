"""uvicorn's WebSocket protocol with one addition: writing a text message at once.

ASGI's ``send`` is a coroutine: it may wait until the socket drains. The event hub serves a
group of subscribers from one task (:class:`crm_graph.events.hub.Subscriber`) and must never
wait on one slow socket, so ``crm-graph serve`` runs this protocol, which offers in the
connection scope's ``extensions`` a function that writes a text message now and returns True,
or returns False, writing nothing, when the socket cannot take it now (paused by back-pressure,
closing, closed). Under any other server the extension is absent and every message goes
through ASGI ``send``.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

SEND_TEXT_NOW = "crm_graph.websocket.send_text_now"
PROTOCOL = "crm_graph.web.websocket_protocol:FanOutWebSocketProtocol"  # for uvicorn's ``ws``


class FanOutWebSocketProtocol(WebSocketsSansIOProtocol):
    async def run_asgi(self) -> None:
        self.scope["extensions"][SEND_TEXT_NOW] = self.send_text_now  # type: ignore[index]
        await super().run_asgi()

    def send_text_now(self, text: str) -> bool:
        """What ``send`` does with a ``websocket.send`` text message, if it need not wait."""
        if (
            not self.handshake_complete
            or self.initial_response is not None
            or self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:  # the client has started closing
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True
