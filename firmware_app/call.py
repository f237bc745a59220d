"""One call: the channel the TwiML interpreter runs on, over a frame pump.

The frame pump (pump.py) owns the line, the clock, the detectors, the digit
stream and the player; this class is the Channel (twiml/channel.py) the
interpreter and the verbs see: requests with Twilio's parameters, speech,
audio, pauses, listening, and the call's end.

    >>> import asyncio
    >>> from drivers.sim import SimLine
    >>> from firmware_app.config import defaults
    >>> from firmware_app.web.client import Response
    >>> class Server:                                   # a fetcher: anything with fetch(Request)
    ...     async def fetch(self, request):
    ...         return Response(request.url, 200, b"<Response><Say>Hello</Say></Response>")
    >>> config = defaults()
    >>> config["server"]["url"] = "http://example.com/ivr"
    >>> events = []
    >>> call = Call(SimLine(), config, fetcher=Server(), sinks=[events.append])
    >>> asyncio.run(call.run(CallInfo(caller="+15550100")))
    >>> [(e["event"], e.get("text", "")) for e in events if not e["event"].startswith("_")]
    [('request', ''), ('say', 'Hello'), ('hangup', '')]
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from contextlib import asynccontextmanager

from drivers.line import CallInfo, Line

from .events import Events
from .listen.listener import open_listener
from .numbers import ensure_geodata, geography, region
from .status import StatusCallbacks
from .pump import FramePump
from .recordings.channel import CallRecorder
from .speak.tts import Synthesizer
from .stream.callport import CallPort
from .twiml.channel import DialRequest, Speech
from .twiml.interpreter import Interpreter
from .twiml.parse import parse
from .web.client import FetchError, Request, redact, with_query


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


class Call:
    def __init__(self, line: Line, config: dict, *, fetcher, tts: Synthesizer | None = None,
                 speech_models=None, sinks=(), call_sid: str | None = None, recordings=None):
        self.line = line
        self.config = config
        self.fetcher = fetcher
        self.tts = tts or Synthesizer()
        self.speech_models = speech_models
        self.sid = call_sid or new_call_sid()
        self.events = Events(lambda: self.clock.t, [*sinks, line.observe])
        self.pump = FramePump(line, self.emit, on_line_failure=lambda: self._end("box", reason="line failure"))
        self.clock = self.pump.clock
        self.info = CallInfo()
        self.status = "ringing"
        self.ended = False
        self.ending: tuple[str, str] = ("", "")  # who ended the call, and why
        self.callbacks = StatusCallbacks(self)
        self._background: set[asyncio.Task] = set()
        self.streams: dict = {}         # <Start><Stream>s running, by name
        self._partials: asyncio.Task | None = None
        self._next_partial: Request | None = None
        self._partial_sequence = 0
        self.recorder = CallRecorder(self, recordings)
        self.beep, self.record = self.recorder.beep, self.recorder.record
        self.callback, self.transcribe = self.recorder.callback, self.recorder.transcribe
        self.after_hangup = self.recorder.after_hangup

    @functools.cached_property
    def speaker(self):
        from .speak.speaker import Speaker  # with numpy: a call that never speaks starts without it

        return Speaker(self.pump.player, self.tts, self.config, self.emit, self.clock.hold)

    @property
    def now(self) -> float:
        return self.clock.t

    def emit(self, event: str, **fields) -> None:
        self.events.emit(event, **fields)

    async def run(self, info: CallInfo) -> None:
        self.info = info
        shared, for_call = self.fetcher, getattr(self.fetcher, "for_call", None)
        self.fetcher = for_call(self.sid, self.params()["From"]) if for_call else shared  # the call's cookie jar
        self.pump.forget_earlier_events()
        await asyncio.to_thread(ensure_geodata)  # once per machine: the geographic parameters' table
        self.callbacks.event("initiated")
        self.callbacks.event("ringing")
        server = self.config["server"]
        interpreter = Interpreter(self)
        work = asyncio.create_task(interpreter.run(server["url"], server["method"]))
        gone = asyncio.create_task(self.pump.gone.wait())
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                reason = self.pump.hangup_reason
                how = {"reason": reason} if reason else {}
                if self.recorder.take_hangup():     # <Record> keeps the message and still makes its request
                    self._end("caller", **how)
                    await work
                else:                               # what the verb was doing (a stream, say) ends first
                    work.cancel()
                    await asyncio.gather(work, return_exceptions=True)
                    self._end("caller", **how)
            else:
                work.result()
        except Exception as e:
            self.emit("error", code=0, message=f"internal error: {type(e).__name__}: {e}")
            self._end("box")
            raise
        finally:
            gone.cancel()
            await self.pump.stop()
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            await self.line.hangup()
            self.callbacks.event("completed", self.final_status())
            await self.callbacks.finish(self.config["server"]["timeout"])
            if self.fetcher is not shared:
                await self.fetcher.close()
            self.fetcher = shared

    async def _answer(self) -> None:
        if not self.pump.running:
            await self.pump.start()
            self.status = "in-progress"
            self.callbacks.event("answered")

    # The channel the interpreter runs on

    def params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        call = self.config["call"]
        caller = self.info.caller or call["from"]
        called = self.info.called or call["to"]
        return {
            "CallSid": self.sid, "AccountSid": self.config["server"]["account_sid"],
            "From": caller, "To": called, "Caller": caller, "Called": called,
            "CallStatus": self.status, "Direction": "inbound", "ApiVersion": "2010-04-01",
            **geography("From", caller, region(called)), **geography("To", called),
            **({"CallerName": self.info.name} if self.info.name else {}),
            **(extra or {}),
        }

    async def fetch_twiml(self, url: str, method: str, params: dict[str, str], caller_input: bool = False):
        request = Request(method, url, self.params(params), input=dict(params) if caller_input else {})
        self.emit("request", method=method, url=redact(url if method == "POST" else with_query(url, request.params)),
                  params=request.params)
        with self.clock.hold():
            response = await self.fetcher.fetch(request)
        self._notes(response)
        return parse(response.body, response.url)

    def _notes(self, response) -> None:
        """Emit what the web stack did on the way: an error it recovered from, a fallback, queued input."""
        for note in getattr(response, "notes", ()):
            self.emit(**note)

    async def say(self, text: str, voice: str, language: str, ssml: str = "") -> None:
        await self._answer()
        await self.speaker.say(text, voice, language, ssml)

    async def play(self, url: str, digits: str) -> None:
        await self._answer()
        if digits:
            await self.speaker.digits(digits)
        if not url:
            return
        try:
            body = await self._audio(url)
        except FetchError as e:
            self.emit("error", code=e.code, message=f"<Play> could not fetch the audio: {e.message}", url=url)
            return
        await self.speaker.audio(url, body)

    async def _audio(self, url: str) -> bytes:
        """The bytes of a sound file: a RecordingUrl of this box from the disk, else through the cache."""
        with self.clock.hold():
            body = await self.recorder.own_audio(url)
            if body is not None:
                return body
            response = await self.fetcher.fetch(Request("GET", url, {}, kind="audio"))
        self._notes(response)
        return response.body

    async def fetch_audio(self, url: str) -> bytes:
        """A sound file as line PCM, through the cache and within the [media] limits;
        raises FetchError or AudioError."""
        body = await self._audio(url)
        from .speak.audio import decode

        media = self.config["media"]
        with self.clock.hold():  # minutes of mp3 take a while on a Pi
            decoded = await asyncio.to_thread(decode, body, media["max_play_seconds"],
                                              media["min_sample_rate"], media["max_sample_rate"])
        return decoded.pcm

    async def pause(self, seconds: float) -> None:
        await self._answer()
        self.emit("pause", seconds=seconds)
        await self.clock.sleep(seconds)

    @asynccontextmanager
    async def listen(self, speech: Speech | None):
        await self._answer()
        listener = open_listener(speech, self.speech_models, self.config["speech"], self.clock, self.emit)
        self.pump.listener = listener
        self._partial_sequence = 0
        try:
            yield listener
        finally:
            listener.stop_speech()
            self.pump.listener = None

    def partial_result(self, url: str, method: str, text: str, stability: float) -> None:
        """Send a partial result without ever holding up the call: one request in
        flight at a time; while it is out, only the newest partial waits."""
        params = self.params({"UnstableSpeechResult": text, "Stability": f"{stability:g}"})
        self._next_partial = Request(method, url, params, kind="callback")
        if self._partials is None or self._partials.done():
            self._partials = asyncio.create_task(self._send_partials())
            self._background.add(self._partials)
            self._partials.add_done_callback(self._background.discard)

    async def _send_partials(self) -> None:
        while self._next_partial is not None:
            request, self._next_partial = self._next_partial, None
            self._partial_sequence += 1
            request.params["SequenceNumber"] = str(self._partial_sequence)
            self.emit("request", method=request.method, url=request.url, params=request.params)
            try:
                await self.fetcher.fetch(request)
            except FetchError as e:
                self.emit("warning", message=f"partialResultCallback failed: {e.message}")

    async def dial(self, request: DialRequest):
        from .transfer import Transfer

        await self._answer()
        return await Transfer(self.pump, self.emit).run(request)

    def final_status(self) -> str:
        """Twilio's CallStatus for the call's end."""
        by, reason = self.ending
        if reason == "line failure":
            return "failed"
        if reason in ("busy", "rejected"):
            return "busy" if reason == "busy" else "no-answer"
        return "canceled" if by == "caller" and not self.pump.running else "completed"

    async def port(self) -> CallPort:
        """The call as a stream session sees it (firmware_app/stream); answers first."""
        await self._answer()
        return CallPort(self)

    def keep(self, task: asyncio.Task) -> None:
        """Run TASK beside the call; it is cancelled when the call ends."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _end(self, by: str, **fields) -> None:
        if not self.ended:
            self.ending = (by, fields.get("reason", ""))
            self.ended = True
            self.status = "completed"
            self.emit("hangup", by=by, **fields)

    async def hangup(self) -> None:
        self._end("box")

    async def reject(self, reason: str) -> None:
        self.status = "busy" if reason == "busy" else "no-answer"
        self._end("box", reason=reason)
