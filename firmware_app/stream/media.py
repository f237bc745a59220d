"""A Twilio Media Stream: the call's audio as JSON messages over a WebSocket.

To the server: ``connected``, ``start`` (streamSid, accountSid, callSid,
tracks, customParameters, mediaFormat), a ``media`` message per track every
20 ms (track, chunk, timestamp, base64 µ-law payload), ``dtmf`` (on a
bidirectional stream), ``mark`` once the audio queued before a mark has
played, and ``stop``; each with its ``sequenceNumber``. From the server, on
a bidirectional stream: ``media`` (queued for the caller), ``mark`` and
``clear``.

``MediaStream(port, StreamSpec(url, bidirectional=True)).run()`` lasts until the
server closes, the caller hangs up (cancelled) or ``stop()``, and returns a
StreamEnd. Each stream has a Twilio-style sid:

    >>> sid = new_stream_sid()
    >>> sid[:2], len(sid)
    ('MZ', 34)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from dataclasses import dataclass, field

from . import mulaw
from .pace import Pacer
from .port import Taps
from .socket import ERROR_DROPPED, ERROR_MALFORMED, Socket, SocketError

TRACKS = {"inbound_track": ("inbound",), "outbound_track": ("outbound",), "both_tracks": ("inbound", "outbound")}


def new_stream_sid() -> str:
    return "MZ" + secrets.token_hex(16)


@dataclass
class StreamSpec:
    url: str
    name: str = ""
    track: str = "inbound_track"
    bidirectional: bool = False
    parameters: dict[str, str] = field(default_factory=dict)
    status_callback: str = ""
    status_callback_method: str = "POST"


@dataclass
class StreamEnd:
    reason: str                       # closed (by the server) | stopped | hangup | error
    error_code: int | None = None
    error: str = ""


class MediaStream:
    def __init__(self, port, spec: StreamSpec, sid: str | None = None):
        self.port = port
        self.spec = spec
        self.sid = sid or new_stream_sid()
        self.tracks = ("inbound",) if spec.bidirectional else TRACKS[spec.track]
        self.marks_sent = 0
        self._sequence = 0
        self._chunks = {track: 0 for track in self.tracks}
        self._start_t = 0.0
        self._socket: Socket | None = None
        self._stopped = asyncio.Event()
        self._pacer = Pacer(port)
        self._last_status = None           # status callbacks go out one after the other, in order

    def stop(self) -> None:
        """End the stream from the box's side (<Stop><Stream>)."""
        self._stopped.set()

    async def run(self) -> StreamEnd:
        port, spec = self.port, self.spec
        try:
            socket = Socket(port, spec.url)
            await socket.__aenter__()
        except SocketError as e:
            return self._failed(e.code, e.message)
        self._socket = socket
        self._start_t = port.now
        port.emit("stream", action="open", name=spec.name, sid=self.sid, url=spec.url,
                  tracks=list(self.tracks), bidirectional=spec.bidirectional)
        self._status("stream-started")
        self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        self._send({"event": "start", "streamSid": self.sid, "start": {
            "accountSid": port.account_sid, "streamSid": self.sid, "callSid": port.call_sid,
            "tracks": list(self.tracks), "customParameters": dict(spec.parameters),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
        untap = port.tap(Taps(inbound=self._inbound, outbound=self._outbound,
                              digit=self._digit if spec.bidirectional else None))
        reader = asyncio.create_task(self._read())
        stopper = asyncio.create_task(self._stopped.wait())
        end = StreamEnd("closed")
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if self._stopped.is_set():
                end = StreamEnd("stopped")
            elif socket.dropped:
                end = StreamEnd("error", ERROR_DROPPED, f"the Media Streams server {spec.url} dropped the connection")
        except asyncio.CancelledError:
            end = StreamEnd("hangup")
            raise
        finally:
            untap()
            self._pacer.stop()
            for task in (reader, stopper):
                task.cancel()
            if spec.bidirectional:
                port.voice.clear()          # what the server queued dies with its stream
            await socket.close(None if end.reason == "closed" and socket.closed_by_server else self._stop_message())
            self._finish(end)
        return end

    def _stop_message(self) -> dict:
        return {"event": "stop", "sequenceNumber": str(self._next()), "streamSid": self.sid,
                "stop": {"accountSid": self.port.account_sid, "callSid": self.port.call_sid}}

    def _finish(self, end: StreamEnd) -> None:
        socket = self._socket
        if end.error:
            self.port.emit("error", code=end.error_code, message=end.error, url=self.spec.url)
            self._status("stream-error", end.error)
        self.port.emit("stream", action="close", name=self.spec.name, sid=self.sid, reason=end.reason,
                       sent=socket.sent, received=socket.received, marks=self.marks_sent)
        self._status("stream-stopped")

    def _failed(self, code: int, message: str) -> StreamEnd:
        self.port.emit("error", code=code, message=message, url=self.spec.url)
        self._status("stream-error", message)
        return StreamEnd("error", code, message)

    def _status(self, event: str, error: str = "") -> None:
        if not self.spec.status_callback:
            return
        params = {"StreamSid": self.sid, "StreamName": self.spec.name or self.sid, "StreamEvent": event,
                  "Timestamp": _rfc2822()}
        if error:
            params["StreamError"] = error
        self._last_status = self.port.callback(self.spec.status_callback, self.spec.status_callback_method,
                                               params, after=self._last_status)

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence

    def _send(self, message: dict) -> None:
        self._socket.send({"event": message["event"], "sequenceNumber": str(self._next()),
                           **{k: v for k, v in message.items() if k != "event"}})

    # Taps: called by the frame pump, never block.

    def _inbound(self, frame: bytes, tone: bool = False) -> None:
        self._pacer.frame()
        if "inbound" in self.tracks:
            self._media("inbound", frame)

    def _outbound(self, frame: bytes) -> None:
        if "outbound" in self.tracks:
            self._media("outbound", frame)
        if self.spec.bidirectional:
            for name in self.port.voice.take_marks():
                self._send_mark(name)

    def _media(self, track: str, frame: bytes) -> None:
        self._chunks[track] += 1
        timestamp = round((self.port.now - self._start_t) * 1000)
        self._send({"event": "media", "streamSid": self.sid, "media": {
            "track": track, "chunk": str(self._chunks[track]), "timestamp": str(timestamp),
            "payload": base64.b64encode(mulaw.encode(frame)).decode()}})

    def _digit(self, key: str) -> None:
        self._send({"event": "dtmf", "streamSid": self.sid, "dtmf": {"track": "inbound_track", "digit": key}})

    def _send_mark(self, name: str) -> None:
        self.marks_sent += 1
        self.port.emit("stream", action="mark", name=self.spec.name, sid=self.sid, mark=name)
        self._send({"event": "mark", "streamSid": self.sid, "mark": {"name": name}})

    # From the server

    async def _read(self) -> None:
        async for message in self._socket.messages():
            if self.spec.bidirectional:
                self._handle(message)

    def _handle(self, message: dict) -> None:
        event = message.get("event")
        voice = self.port.voice
        if event == "media":
            payload = (message.get("media") or {}).get("payload") if isinstance(message.get("media"), dict) else None
            try:
                audio = mulaw.decode(base64.b64decode(payload, validate=True)) if isinstance(payload, str) else None
            except (binascii.Error, ValueError):
                audio = None
            if audio is None:
                self._socket.warn(ERROR_MALFORMED, "a media message without a base64 payload")
            elif not voice.push(audio):
                self._socket.warn(ERROR_MALFORMED, "more audio than the box queues (10 minutes)")
        elif event == "mark":
            name = (message.get("mark") or {}).get("name") if isinstance(message.get("mark"), dict) else None
            if not isinstance(name, str):
                self._socket.warn(ERROR_MALFORMED, "a mark message without mark.name")
            else:
                voice.mark(name)
        elif event == "clear":
            for name in voice.clear():
                self._send_mark(name)
        else:
            self._socket.warn(ERROR_MALFORMED, f"an unknown event {str(event)[:40]!r}")


def _rfc2822() -> str:
    from email.utils import formatdate

    return formatdate(usegmt=True)
