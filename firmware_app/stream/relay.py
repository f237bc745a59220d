"""ConversationRelay on the box: the app exchanges text over a WebSocket while
the box listens (Vosk, with end of speech from voice activity) and speaks
(espeak-ng) itself. Only text crosses the network.

To the app: ``setup``, ``prompt`` (voicePrompt, lang, last), ``dtmf``,
``interrupt`` (utteranceUntilInterrupt, durationUntilInterruptMs) and
``error``. From the app: ``text`` (token, last, lang, interruptible,
preemptible), ``play``, ``sendDigits``, ``language`` and ``end``.

``Relay(port, RelaySpec(url, welcome_greeting="Hi")).run()`` lasts until the
app sends ``end`` or closes, or the caller hangs up, and returns what
``<Connect action>`` is told:

    >>> RelayEnd("ended", "VX01", 12.4, '{"to": "sales"}').params()
    {'SessionId': 'VX01', 'SessionStatus': 'ended', 'SessionDuration': '12', 'HandoffData': '{"to": "sales"}'}
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from dataclasses import dataclass, field

from drivers.line import speech_of

from .pace import Pacer
from .port import Taps
from .socket import ERROR_DROPPED, ERROR_MALFORMED, Socket, SocketError
from .speaker import Piece, Speaker

MODES = {"none": frozenset(), "dtmf": frozenset({"dtmf"}), "speech": frozenset({"speech"}),
         "any": frozenset({"dtmf", "speech"})}
LEAD_IN_FRAMES = 15               # audio before voice onset the recognizer also hears (300 ms)
DRAIN_LIMIT = 60.0                # at most this long speaking what was queued before an end


@dataclass
class RelaySpec:
    url: str
    welcome_greeting: str = ""
    welcome_greeting_interruptible: str = "any"
    language: str = "en-US"
    tts_language: str = ""
    transcription_language: str = ""
    voice: str = "man"
    interruptible: str = "any"
    dtmf_detection: bool = False
    hints: list[str] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    languages: dict[str, dict[str, str]] = field(default_factory=dict)   # <Language code=…> attributes


@dataclass
class RelayEnd:
    status: str                   # ended (the app sent end) | completed (it closed) | failed
    session_id: str
    duration: float = 0.0
    handoff_data: str | None = None
    error_code: int | None = None
    error: str = ""

    def params(self) -> dict[str, str]:
        """What <Connect action> receives."""
        p = {"SessionId": self.session_id, "SessionStatus": self.status,
             "SessionDuration": str(round(self.duration))}
        if self.handoff_data is not None:
            p["HandoffData"] = self.handoff_data
        if self.error_code is not None:
            p.update(ErrorCode=str(self.error_code), ErrorMessage=self.error)
        return p


class Relay:
    def __init__(self, port, spec: RelaySpec):
        self.port = port
        self.spec = spec
        self.session_id = "VX" + secrets.token_hex(16)
        self.tts_language = spec.tts_language or spec.language
        self.stt_language = spec.transcription_language or spec.language
        self.modes = MODES[spec.interruptible]
        self.speaker = Speaker(port, self._voice_for, self._started)
        self.prompts = 0
        self._socket: Socket | None = None
        self._vad = None
        self._recognizer = None
        self._lead_in: deque = deque(maxlen=LEAD_IN_FRAMES)
        self._results: set[asyncio.Task] = set()
        self._ended = asyncio.Event()
        self._handoff: str | None = None
        self._new_response = True
        self._response_ms = 0
        self._pacer = Pacer(port)
        self._drained: asyncio.Future | None = None
        self._can_hear = True

    async def run(self) -> RelayEnd:
        port, spec = self.port, self.spec
        began = port.now
        try:
            socket = Socket(port, spec.url, "ConversationRelay")
            await socket.__aenter__()
        except SocketError as e:
            port.emit("error", code=e.code, message=e.message, url=spec.url)
            return RelayEnd("failed", self.session_id, 0.0, None, e.code, e.message)
        self._socket = socket
        port.emit("relay", action="open", url=spec.url, session=self.session_id)
        socket.send({"type": "setup", "sessionId": self.session_id, "accountSid": port.account_sid,
                     "parentCallSid": "", "callSid": port.call_sid, "from": port.caller, "to": port.called,
                     "forwardedFrom": "", "callType": "PSTN", "callerName": "", "direction": "inbound",
                     "callStatus": "IN-PROGRESS", "customParameters": dict(spec.parameters)})
        self._vad = port.vad()
        self.speaker.start()
        if spec.welcome_greeting:
            self.speaker.token(spec.welcome_greeting, True, Piece(
                "text", "", MODES.get(spec.welcome_greeting_interruptible, MODES["any"]), language=self.tts_language))
        untap = port.tap(Taps(inbound=self._inbound, outbound=self._outbound, digit=self._digit))
        reader = asyncio.create_task(self._read())
        ended = asyncio.create_task(self._ended.wait())
        end = None
        try:
            await asyncio.wait({reader, ended}, return_when=asyncio.FIRST_COMPLETED)
            if self._ended.is_set():
                end = RelayEnd("ended", self.session_id, handoff_data=self._handoff)
                await self._drain()
            elif socket.dropped:
                message = f"the ConversationRelay app {spec.url} dropped the connection"
                port.emit("error", code=ERROR_DROPPED, message=message, url=spec.url)
                end = RelayEnd("failed", self.session_id, error_code=ERROR_DROPPED, error=message)
            else:
                end = RelayEnd("completed", self.session_id)
        finally:
            untap()
            self._pacer.stop()
            for task in (reader, ended, *self._results):
                task.cancel()
            await self.speaker.close()
            self.speaker.cut()
            if self._recognizer is not None:
                self._recognizer.close()
            await socket.close()
            port.emit("relay", action="close", session=self.session_id, status=end.status if end else "hangup",
                      sent=socket.sent, received=socket.received, prompts=self.prompts)
        end.duration = port.now - began
        return end

    async def _drain(self) -> None:
        """Let the caller hear what the app queued before its end (in call time)."""
        self.speaker.flush()
        if self.speaker.speaking:
            self._drained = asyncio.get_running_loop().create_future()
            limit = self.port.now + DRAIN_LIMIT
            while not self._drained.done() and self.port.now < limit:
                await asyncio.wait({self._drained}, timeout=1.0)

    def _voice_for(self, language: str) -> tuple[str, str]:
        language = language or self.tts_language
        attrs = self.spec.languages.get(language, {})
        return attrs.get("voice") or self.spec.voice, language

    def _started(self, piece: Piece) -> None:
        if piece.kind == "text":
            voice, language = self._voice_for(piece.language)
            self.port.emit("say", text=piece.content, voice=voice, language=language)
        elif piece.kind == "play":
            self.port.emit("play", url=piece.content)
        else:
            self.port.emit("play", url="", digits=piece.content)

    # Taps

    def _inbound(self, frame: bytes, tone: bool = False) -> None:
        self._pacer.frame()
        if tone:
            frame = bytes(len(frame))
        speech = speech_of(frame)  # the caller unmuted: the recognizer only hears it from a voice onset
        self._lead_in.append(speech)
        if self._recognizer is not None:
            self._recognizer.feed(speech)
        edge = self._vad.feed(frame)
        if edge == "start":
            self._onset()
        elif edge == "end" and self._recognizer is not None:
            session, self._recognizer = self._recognizer, None
            task = asyncio.create_task(self._prompt(session))
            self._results.add(task)
            task.add_done_callback(self._results.discard)

    def _onset(self) -> None:
        if "speech" in self._interrupting():
            self._interrupt()
        if not self._can_hear:
            return
        session = self.port.speech(self.stt_language, self.spec.hints)
        self._can_hear = session is not None        # no model: the port warned once; keys still work
        if session is not None:
            for frame in self._lead_in:
                session.feed(frame)
            self._recognizer = session

    def _outbound(self, frame: bytes) -> None:
        self.speaker.marks(self.port.voice.take_marks())
        if self._drained is not None and not self.speaker.speaking and not self._drained.done():
            self._drained.set_result(None)

    def _digit(self, key: str) -> None:
        if "dtmf" in self._interrupting():
            self._interrupt()
        if self.spec.dtmf_detection:
            self.port.emit("relay", action="dtmf", digit=key)
            self._socket.send({"type": "dtmf", "digit": key})

    def _interrupting(self) -> frozenset:
        """What may interrupt the box right now: nothing unless it is speaking."""
        piece = self.speaker.current
        if piece is None or not self.speaker.speaking:
            return frozenset()
        return piece.modes

    def _interrupt(self) -> None:
        heard = self.speaker.heard_so_far()
        duration = max(0, self.port.voice.heard_ms - self._response_ms)
        self.speaker.cut()
        self.speaker.heard.clear()
        self._new_response = True
        self.port.emit("interrupted", verb="ConversationRelay")
        self.port.emit("relay", action="interrupt", heard=heard, ms=duration)
        self._socket.send({"type": "interrupt", "utteranceUntilInterrupt": heard,
                           "durationUntilInterruptMs": duration})

    async def _prompt(self, session) -> None:
        from ..listen.engine import SpeechError

        try:
            with self.port.hold():
                text, confidence = await session.result()
        except SpeechError as e:
            self.port.emit("warning", message=f"ConversationRelay: speech recognition failed: {e}")
            return
        if text:
            self.prompts += 1
            self.port.emit("relay", action="prompt", text=text, confidence=confidence)
            self._socket.send({"type": "prompt", "voicePrompt": text, "lang": self.stt_language, "last": True})

    # From the app

    async def _read(self) -> None:
        async for message in self._socket.messages():
            problem = self._handle(message)
            if problem:
                self._socket.warn(ERROR_MALFORMED, problem)
                self._socket.send({"type": "error", "description": f"Invalid message received: {problem}"})

    def _handle(self, m: dict) -> str | None:
        kind = m.get("type")
        if kind == "text":
            token = m.get("token")
            if not isinstance(token, str):
                return "a text message without a token"
            self._response_start(m)
            template = Piece("text", "", self._modes(m), bool(m.get("preemptible")),
                             language=m.get("lang") if isinstance(m.get("lang"), str) else "")
            self.speaker.token(token, bool(m.get("last")), template)
            self._new_response = bool(m.get("last"))
        elif kind == "play":
            source = m.get("source")
            if not isinstance(source, str) or not source:
                return "a play message without a source"
            loop = m.get("loop", 1)
            self._response_start(m)
            self.speaker.add(Piece("play", source, self._modes(m), bool(m.get("preemptible")),
                                   loop=loop if isinstance(loop, int) and loop >= 0 else 1))
        elif kind == "sendDigits":
            digits = m.get("digits")
            if not isinstance(digits, str) or not digits or set(digits) - set("0123456789*#ABCDw"):
                return "a sendDigits message without digits (0-9, *, #, A-D, w)"
            self.speaker.add(Piece("digits", digits))
        elif kind == "language":
            for key, attr in (("ttsLanguage", "tts_language"), ("transcriptionLanguage", "stt_language")):
                if isinstance(m.get(key), str) and m[key]:
                    setattr(self, attr, m[key])
            self._can_hear = True
            self.port.emit("relay", action="language", tts=self.tts_language, transcription=self.stt_language)
        elif kind == "end":
            data = m.get("handoffData")
            self._handoff = data if isinstance(data, str) or data is None else _json(data)
            self.port.emit("relay", action="end", handoff_data=self._handoff)
            self._ended.set()
        else:
            return f"an unknown type {str(kind)[:40]!r}"
        return None

    def _modes(self, m: dict) -> frozenset:
        flag = m.get("interruptible")
        if flag is None:
            return self.modes
        if isinstance(flag, str):
            return MODES.get(flag, self.modes) if flag not in ("true", "false") else (
                self.modes or MODES["any"] if flag == "true" else frozenset())
        return (self.modes or MODES["any"]) if flag else frozenset()

    def _response_start(self, m: dict) -> None:
        """The first message of a reply: a preemptible reply still playing gives way to it."""
        if not self._new_response:
            return
        current = self.speaker.current
        if current is not None and current.preemptible:
            self.speaker.cut()
        self.speaker.heard.clear()
        self._response_ms = self.port.voice.played_ms


def _json(value) -> str:
    import json

    return json.dumps(value)
