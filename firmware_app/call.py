"""One call: joins a Line to the TwiML interpreter.

The frame pump is the call's heartbeat. Each 20 ms it reads a frame from
the line, runs the detectors over it, advances the clock, lets the
interpreter react, and writes the next frame of the box's voice. On a
simulated line it waits for the interpreter to settle between frames, so
a simulated call is fast and deterministic.

    >>> call = Call(line, config, fetcher=build_fetcher(config), tts=Synthesizer())  # doctest: +SKIP
    >>> await call.run(CallInfo(caller="+15550100"))                           # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import secrets
from contextlib import asynccontextmanager

from drivers.line import SILENCE, CallInfo, HungUp, Line, LineError

from .clock import Clock
from .events import Events
from .listen.digits import DigitStream
from .listen.dtmf import DtmfDetector
from .listen.tones import dtmf_audio
from .recordings.channel import CallRecorder
from .speak.audio import AudioError, decode
from .speak.player import Player
from .speak.tts import Synthesizer
from .twiml.channel import Input, Speech
from .twiml.interpreter import Interpreter
from .twiml.parse import parse
from .web.client import FetchError, Request, redact, with_query


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


class Listener:
    """Caller input for one <Gather>: digits, voice activity and speech results."""

    def __init__(self, call: "Call", session=None, vad=None):
        self.call = call
        self.queue: asyncio.Queue[Input] = asyncio.Queue()
        self.session = session
        self.vad = vad
        self.speech = session is not None

    def feed(self, frame: bytes, tone: bool = False) -> None:
        """One frame of caller audio; ``tone`` says a DTMF tone is in it, which is not voice."""
        if self.session is None:
            return
        if tone:
            frame = SILENCE
        self.session.feed(frame)
        edge = self.vad.feed(frame)
        if edge:
            self.queue.put_nowait(Input(f"speech_{edge}", ago=self.vad.hangover if edge == "end" else 0.0))
        while not self.session.events.empty():
            kind, *rest = self.session.events.get_nowait()
            if kind == "partial":
                self.queue.put_nowait(Input("partial", rest[0], rest[1]))
            elif kind == "endpoint":
                self.queue.put_nowait(Input("endpoint"))

    async def settle(self) -> None:
        if self.session is not None:
            with self.call.clock.hold():
                await self.session.settle()

    async def next(self, timeout: float | None) -> Input | None:
        if timeout is None:
            return await self.queue.get()
        if not self.queue.empty():
            return self.queue.get_nowait()
        get = asyncio.ensure_future(self.queue.get())
        sleep = asyncio.ensure_future(self.call.clock.sleep(timeout))
        done, pending = await asyncio.wait({get, sleep}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return get.result() if get in done else None

    def stop_speech(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    async def speech_result(self) -> tuple[str, float]:
        """The utterance's text and confidence; a failed recognizer is no speech, with a warning."""
        if self.session is None:
            return "", 0.0
        from .listen.speech import SpeechError

        try:
            with self.call.clock.hold():
                return await self.session.result()
        except SpeechError as e:
            self.call.emit("warning", message=f"speech recognition failed: {e}; treating it as no speech")
            return "", 0.0


class Call:
    def __init__(self, line: Line, config: dict, *, fetcher, tts: Synthesizer | None = None,
                 speech_models=None, sinks=(), call_sid: str | None = None, recordings=None):
        self.line = line
        self.config = config
        self.fetcher = fetcher
        self.tts = tts or Synthesizer()
        self.speech_models = speech_models
        self.sid = call_sid or new_call_sid()
        self.clock = Clock()
        self.events = Events(lambda: self.clock.t, [*sinks, line.observe])
        self.player = Player()
        self.detector = DtmfDetector()
        self.digits = DigitStream()
        self.listener: Listener | None = None
        self.info = CallInfo()
        self.status = "ringing"
        self.ended = False
        self._pump: asyncio.Task | None = None
        self._caller_gone = asyncio.Event()
        self._background: set[asyncio.Task] = set()
        self._partials: asyncio.Task | None = None
        self._next_partial: Request | None = None
        self._partial_sequence = 0
        self.recorder = CallRecorder(self, recordings)
        self.beep, self.record = self.recorder.beep, self.recorder.record
        self.callback, self.transcribe = self.recorder.callback, self.recorder.transcribe
        self.after_hangup = self.recorder.after_hangup

    @property
    def now(self) -> float:
        return self.clock.t

    def emit(self, event: str, **fields) -> None:
        self.events.emit(event, **fields)

    async def run(self, info: CallInfo) -> None:
        self.info = info
        shared, for_call = self.fetcher, getattr(self.fetcher, "for_call", None)
        self.fetcher = for_call(self.sid, self.params()["From"]) if for_call else shared  # the call's cookie jar
        # What the line reported before this call (a handset put down after the
        # last one, keys pressed while idle) is not this call's.
        while not self.line.events.empty():
            self.line.events.get_nowait()
        server = self.config["server"]
        interpreter = Interpreter(self)
        work = asyncio.create_task(interpreter.run(server["url"], server["method"]))
        gone = asyncio.create_task(self._caller_gone.wait())
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                self._end("caller")
                if self.recorder.take_hangup():     # <Record> keeps the message and still makes its request
                    await work
                else:
                    work.cancel()
                    await asyncio.gather(work, return_exceptions=True)
            else:
                work.result()
        except Exception as e:
            self.emit("error", code=0, message=f"internal error: {type(e).__name__}: {e}")
            self._end("box")
            raise
        finally:
            gone.cancel()
            await self._stop_pump()
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            await self.line.hangup()
            if self.fetcher is not shared:
                await self.fetcher.close()
            self.fetcher = shared

    # The frame pump

    async def _answer(self) -> None:
        if self._pump is None:
            await self.line.answer()
            self.status = "in-progress"
            self._pump = asyncio.create_task(self._run_pump())

    async def _stop_pump(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)

    async def _run_pump(self) -> None:
        settle = not self.line.realtime
        try:
            while True:
                frame = await self.line.read_frame()
                while not self.line.events.empty():
                    self._line_event(self.line.events.get_nowait())
                for key in self.detector.feed(frame):
                    self._digit(key, "inband")
                if self.listener is not None:
                    self.listener.feed(frame, self.detector.tone)
                self.recorder.feed(frame, self.detector.tone)
                self.clock.tick()
                if settle:
                    if self.listener is not None:
                        await self.listener.settle()
                    await self.clock.settle()
                await self.line.write_frame(self.player.next_frame())
        except HungUp:
            self._caller_gone.set()
        except Exception as e:
            self.emit("error", code=0, message=f"the line failed: {type(e).__name__}: {e}")
            self._end("box", reason="line failure")
            self._caller_gone.set()
            if not isinstance(e, LineError):
                raise

    def _line_event(self, ev) -> None:
        if ev.kind in ("key", "dtmf"):
            self._digit(str(ev.value), "keypad" if ev.kind == "key" else "modem")
        elif ev.kind == "hangup" or (ev.kind == "hook" and ev.value == "on"):
            self._caller_gone.set()

    def _digit(self, key: str, source: str) -> None:
        if self.digits.push(key, source, self.clock.t):
            self.emit("_digit", key=key, source=source)
            if self.listener is not None:
                self.listener.queue.put_nowait(Input("digit", key))
            self.recorder.digit(key)

    # The channel the interpreter runs on

    def params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        call = self.config["call"]
        caller = self.info.caller or call["from"]
        called = self.info.called or call["to"]
        return {
            "CallSid": self.sid, "AccountSid": self.config["server"]["account_sid"],
            "From": caller, "To": called, "Caller": caller, "Called": called,
            "CallStatus": self.status, "Direction": "inbound", "ApiVersion": "2010-04-01",
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

    async def _speak(self, pcm: bytes) -> None:
        await self._answer()
        await self.player.play(pcm)

    async def say(self, text: str, voice: str, language: str) -> None:
        await self._answer()
        with self.clock.hold():
            pcm, warning = await self.tts.synth(text, voice, language)
        if warning:
            self.emit("warning", message=warning)
        self.emit("say", text=text, voice=voice, language=language)
        await self._speak(pcm)

    async def play(self, url: str, digits: str) -> None:
        await self._answer()
        if digits:
            self.emit("play", url="", digits=digits)
            await self._speak(dtmf_audio(digits).tobytes())
        if not url:
            return
        try:
            with self.clock.hold():
                body = await self.recorder.own_audio(url)     # a RecordingUrl of this box: from the disk
                if body is None:
                    response = await self.fetcher.fetch(Request("GET", url, {}, kind="audio"))
                    self._notes(response)
                    body = response.body
                pcm = await asyncio.to_thread(decode, body)  # minutes of mp3 take a while on a Pi
        except FetchError as e:
            self.emit("error", code=e.code, message=f"<Play> could not fetch the audio: {e.message}", url=url)
            return
        except AudioError as e:
            self.emit("error", code=12300, message=f"<Play> {e}", url=url)
            return
        self.emit("play", url=url)
        await self._speak(pcm)

    async def pause(self, seconds: float) -> None:
        await self._answer()
        self.emit("pause", seconds=seconds)
        await self.clock.sleep(seconds)

    @asynccontextmanager
    async def listen(self, speech: Speech | None):
        await self._answer()
        session = vad = None
        if speech is not None:
            session, vad = self._open_speech(speech)
        self.listener = Listener(self, session, vad)
        self._partial_sequence = 0
        try:
            yield self.listener
        finally:
            self.listener.stop_speech()
            self.listener = None

    def _open_speech(self, speech: Speech):
        model = self.speech_models.get(speech.language) if self.speech_models else None
        if model is None:
            why = (self.speech_models.why_missing(speech.language) if self.speech_models
                   else f"no speech model configured for {speech.language!r}")
            self.emit("warning", message=f"speech input unavailable: {why}; gathering DTMF only")
            return None, None
        from .listen.speech import SpeechSession
        from .listen.vad import VoiceActivity

        session = SpeechSession(model, hints=speech.hints, speech_model=speech.model,
                                profanity_filter=speech.profanity_filter)
        for warning in session.warnings:
            self.emit("warning", message=warning)
        vad = self.config["speech"]
        return session, VoiceActivity(vad["vad_aggressiveness"], hangover_ms=vad["vad_hangover_ms"])

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

    def _end(self, by: str, **fields) -> None:
        if not self.ended:
            self.ended = True
            self.status = "completed"
            self.emit("hangup", by=by, **fields)

    async def hangup(self) -> None:
        self._end("box")

    async def reject(self, reason: str) -> None:
        self.status = "busy" if reason == "busy" else "no-answer"
        self._end("box", reason=reason)
