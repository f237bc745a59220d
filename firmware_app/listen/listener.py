"""Caller input for one <Gather>: digits, voice activity and speech results.

The frame pump feeds it each 20 ms frame and each counted digit; the gather
reads ``Input`` events from it through the channel. Without a speech session
it hears digits only.

    >>> import asyncio
    >>> from firmware_app.clock import Clock
    >>> async def main():
    ...     listener = Listener(Clock(), print)
    ...     listener.digit("5")
    ...     return await listener.next(1.0)
    >>> asyncio.run(main())
    Input(kind='digit', value='5', stability=0.0, ago=0.0)
"""

from __future__ import annotations

import asyncio
import collections
from typing import Callable

from drivers.constants import FRAME_SECONDS
from drivers.line import speech_of

from ..clock import Clock
from ..twiml.channel import Input, Speech

PREROLL_SECONDS = 0.5  # audio before the first voice onset that still reaches the recognizers


class Listener:
    def __init__(self, clock: Clock, emit: Callable[..., None], session=None, vad=None):
        self.clock = clock
        self.emit = emit
        self.queue: asyncio.Queue[Input] = asyncio.Queue()
        self.session = session
        self.vad = vad
        self.speech = session is not None
        # Until voice activity first starts, frames wait in a short ring instead
        # of going to the recognizers: a gather uses nothing they hear before
        # speech_start, and they cost as much in silence (a prompt, a caller
        # thinking) as in speech. The ring gives them the onset webrtcvad
        # confirms only 60 ms in, and a soft first sound it may miss.
        self._before_onset = collections.deque(maxlen=round(PREROLL_SECONDS / FRAME_SECONDS))

    def digit(self, key: str) -> None:
        self.queue.put_nowait(Input("digit", key))

    def feed(self, frame: bytes, tone: bool = False) -> None:
        """One frame of caller audio; ``tone`` says a DTMF tone is in it, which is not voice."""
        if self.session is None:
            return
        if tone:
            frame = bytes(len(frame))
        edge = self.vad.feed(frame)
        speech = speech_of(frame)  # the caller unmuted: the recognizers only hear it from a voice onset
        if self._before_onset is None:
            self.session.feed(speech)
        else:
            self._before_onset.append(speech)
            if edge == "start":
                for held in self._before_onset:
                    self.session.feed(held)
                self._before_onset = None
        if edge:
            self.queue.put_nowait(Input(f"speech_{edge}", ago=self.vad.hangover if edge == "end" else 0.0))
        while not self.session.events.empty():
            kind, *rest = self.session.events.get_nowait()
            if kind == "partial":
                self.queue.put_nowait(Input("partial", rest[0], rest[1]))
            elif kind == "endpoint":
                self.queue.put_nowait(Input("endpoint"))

    async def settle(self) -> None:
        """In the simulator: wait until the recognizers caught up with the frames fed."""
        if self.session is not None:
            with self.clock.hold():
                await self.session.settle()

    async def next(self, timeout: float | None) -> Input | None:
        return await self.clock.get(self.queue, timeout)

    def stop_speech(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    async def speech_result(self) -> tuple[str, float]:
        """The utterance's text and confidence; a failed recognizer is no speech, with a warning."""
        if self.session is None:
            return "", 0.0
        from .engine import SpeechError

        try:
            with self.clock.hold():
                return await self.session.result()
        except SpeechError as e:
            self.emit("warning", message=f"speech recognition failed: {e}; treating it as no speech")
            return "", 0.0


def open_listener(speech: Speech | None, models, settings: dict, clock: Clock,
                  emit: Callable[..., None]) -> Listener:
    """A listener for a gather: with a speech session when speech is asked for and
    its language's model is loaded or still loading (the session keeps what it
    hears until the model is there); else digits only, with a warning saying why."""
    if speech is None:
        return Listener(clock, emit)
    model = models.get(speech.language) if models else None
    loading = model is None and models is not None and models.loading(speech.language)
    if model is None and not loading:
        why = (models.why_missing(speech.language) if models
               else f"no speech model configured for {speech.language!r}")
        emit("warning", message=f"speech input unavailable: {why}; gathering DTMF only")
        return Listener(clock, emit)
    from .session import PendingSession, SpeechSession
    from .vad import VoiceActivity

    def started(session: SpeechSession) -> None:
        for warning in session.warnings:
            emit("warning", message=warning)

    options = dict(hints=speech.hints, speech_model=speech.model, profanity_filter=speech.profanity_filter)
    if loading:
        emit("warning", message=f"{models.why_missing(speech.language)}: the caller's speech is kept "
                                "and recognised once it has loaded")
        session = PendingSession(models, speech.language, started, **options)
    else:
        session = SpeechSession(model, **options)
        started(session)
    vad = VoiceActivity(settings["vad_aggressiveness"], hangover_ms=settings["vad_hangover_ms"])
    return Listener(clock, emit, session, vad)
