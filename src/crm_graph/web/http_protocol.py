"""uvicorn's HTTP protocol (httptools) sending a response's head and body in one write.

uvicorn writes the status line and headers when the app sends ``http.response.start`` and the
body when it sends ``http.response.body``: two writes, so two TCP segments, for every
response. Each segment costs a system call and, on loopback or a proxy on the same host, the
receiving side's TCP work charged to the sender: measured on the small page under wrk, the
head's write was about as costly as everything else uvicorn does for the request. Here the
head is held until the next write of the same connection, which carries both (every response
with a body sends it right after its head), or until the event loop's next turn, so a head
whose body is late (a stream) still leaves at once. A connection upgraded to a WebSocket is
handed the transport itself. ``crm-graph serve`` runs this protocol.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOL = "crm_graph.web.http_protocol:OneWriteHttpProtocol"  # for uvicorn's ``http``


class _HeadWithBody:
    """A transport holding back a response head (a write starting ``HTTP/1.1`` and ending
    with the blank line) until the next write, or the loop's next turn. Anything else done
    with the transport (closing it, handing it to the WebSocket protocol) sends the head
    first."""

    __slots__ = ("_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n"):
            self._head = data
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        head, self._head = self._head, None
        if head is not None:
            self._transport.write(head)

    def __getattr__(self, name: str) -> Any:
        self._flush()
        return getattr(self._transport, name)

    def unwrapped(self) -> asyncio.Transport:
        """The transport itself, with nothing held back."""
        self._flush()
        return self._transport


class OneWriteHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped: Any = _HeadWithBody(transport, self.loop)
        super().connection_made(wrapped)

    def handle_websocket_upgrade(self) -> None:
        """A WebSocket gets the transport itself: its frames are written as they come."""
        if isinstance(self.transport, _HeadWithBody):
            self.transport = self.transport.unwrapped()
        super().handle_websocket_upgrade()
