"""The WebSocket both sessions ride on: aiohttp's client, a signed handshake,
JSON messages, and warnings (never exceptions) for what a server gets wrong.

The handshake carries ``X-Twilio-Signature`` computed as Twilio does for a
WebSocket: HMAC-SHA1 of the URL exactly as written in the TwiML (``ws://``
or ``wss://``, query included) with no parameters.

``async with Socket(port, url) as ws:`` connects (SocketError on failure);
``ws.send(dict)`` queues a message, ``ws.messages()`` yields the server's,
and afterwards ``ws.dropped`` says the server vanished without a close frame.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from ..web.signature import sign

CONNECT_TIMEOUT = 5.0
CLOSE_TIMEOUT = 2.0
MAX_MESSAGE = 1 << 20                     # one message; aiohttp refuses bigger ones
MAX_BACKLOG = 1500                        # 30 s of media frames waiting on a slow server
ERROR_HANDSHAKE = 31920
ERROR_DROPPED = 31921
ERROR_MALFORMED = 31924
ERROR_BINARY = 31950


class SocketError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Socket:
    """One signed WebSocket. ``send`` never blocks: a writer task drains a
    bounded backlog, so a slow server loses media (with a warning), not memory."""

    def __init__(self, port, url: str, protocol: str = "Media Streams"):
        self.port = port
        self.url = url
        self.protocol = protocol
        self.sent = 0
        self.received = 0
        self.dropped = False
        self.closed_by_server = False
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._backlog: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._lost = 0

    async def __aenter__(self) -> "Socket":
        headers = {"X-Twilio-Signature": sign(self.port.auth_token, self.url, {})}
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT))
        try:
            with self.port.hold():
                self._ws = await asyncio.wait_for(
                    self._session.ws_connect(self.url, headers=headers, max_msg_size=MAX_MESSAGE, autoping=True),
                    CONNECT_TIMEOUT)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as e:
            await self._session.close()
            why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            raise SocketError(ERROR_HANDSHAKE, f"{self.protocol} WebSocket handshake with {self.url} failed: {why}") from None
        self._writer = asyncio.create_task(self._write())
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def send(self, message: dict) -> None:
        if self._backlog.qsize() >= MAX_BACKLOG:
            self._lost += 1
            if self._lost == 1:
                self.port.emit("warning", message=f"{self.protocol} server {self.url} is not keeping up; "
                               "dropping messages to it")
            return
        self._backlog.put_nowait(json.dumps(message, separators=(",", ":")))

    async def _write(self) -> None:
        while True:
            text = await self._backlog.get()
            if text is None or self._ws is None or self._ws.closed:
                return
            try:
                await self._ws.send_str(text)
            except (ConnectionError, aiohttp.ClientError, RuntimeError):
                return
            self.sent += 1

    async def messages(self):
        """Each JSON object the server sends; bad frames are warned about and skipped."""
        assert self._ws is not None
        while True:
            msg = await self._ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    message = json.loads(msg.data)
                except ValueError:
                    self.warn(ERROR_MALFORMED, f"a message that is not JSON: {msg.data[:80]!r}")
                    continue
                if not isinstance(message, dict):
                    self.warn(ERROR_MALFORMED, f"a message that is not a JSON object: {msg.data[:80]!r}")
                    continue
                self.received += 1
                yield message
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self.warn(ERROR_BINARY, f"a binary frame ({len(msg.data)} bytes); only JSON text is understood")
            else:
                # A close frame is the server ending the stream; anything else
                # (end of file, a reset, a protocol error) is the connection lost.
                self.closed_by_server = msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING)
                self.dropped = not self.closed_by_server
                return

    def warn(self, code: int, what: str) -> None:
        self.port.emit("warning", message=f"{self.protocol} server sent {what}; ignored", code=code)

    async def close(self, last: dict | None = None) -> None:
        """Send LAST (if any) after everything queued, then close. Safe to call twice."""
        if self._writer is not None:
            if last is not None:
                self.send(last)
            self._backlog.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), CLOSE_TIMEOUT)
            except asyncio.TimeoutError:
                self._writer.cancel()
            self._writer = None
        if self._ws is not None and not self._ws.closed:
            try:
                await asyncio.wait_for(self._ws.close(), CLOSE_TIMEOUT)
            except (asyncio.TimeoutError, ConnectionError, aiohttp.ClientError):
                pass
        if self._session is not None:
            await self._session.close()
            self._session = None
