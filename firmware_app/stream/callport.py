"""The Port a stream session uses, over a call (firmware_app/call.py).

The frame pump (firmware_app/pump.py) owns the taps and the VoiceQueue: it
hands each caller frame, each frame sent and each digit to the taps, and
plays the queue before anything else while a session has audio in it.
"""

from __future__ import annotations

import asyncio

from .port import PortError, Taps


class CallPort:
    def __init__(self, call):
        self.call = call
        self.voice = call.pump.voice

    @property
    def call_sid(self) -> str:
        return self.call.sid

    @property
    def account_sid(self) -> str:
        return self.call.config["server"]["account_sid"]

    @property
    def auth_token(self) -> str:
        return self.call.config["server"]["auth_token"]

    @property
    def caller(self) -> str:
        return self.call.params()["From"]

    @property
    def called(self) -> str:
        return self.call.params()["To"]

    @property
    def realtime(self) -> bool:
        return self.call.line.realtime

    @property
    def now(self) -> float:
        return self.call.clock.t

    def emit(self, event: str, **fields) -> None:
        self.call.emit(event, **fields)

    def tap(self, taps: Taps):
        tapped = self.call.pump.taps
        tapped.append(taps)
        return lambda: tapped.remove(taps) if taps in tapped else None

    def hold(self):
        return self.call.clock.hold()

    async def synth(self, text: str, voice: str, language: str) -> bytes:
        with self.call.clock.hold():
            pcm, warning = await self.call.tts.synth(text, voice, language)
        if warning:
            self.emit("warning", message=warning)
        return pcm

    async def fetch_audio(self, url: str) -> bytes:
        """Through the same path and cache as <Play>."""
        from ..speak.audio import AudioError
        from ..web.client import FetchError

        try:
            return await self.call.fetch_audio(url)
        except FetchError as e:
            raise PortError(e.code, f"could not fetch the audio: {e.message}") from None
        except AudioError as e:
            raise PortError(12300, str(e)) from None

    def speech(self, language: str, hints: list[str]):
        """A recognizer for one utterance, or None (warned why)."""
        from ..listen.listener import open_listener
        from ..twiml.channel import Speech

        call = self.call
        return open_listener(Speech(language=language, hints=list(hints)), call.speech_models,
                             call.config["speech"], call.clock, call.emit).session

    def vad(self):
        from ..listen.vad import VoiceActivity

        speech = self.call.config["speech"]
        return VoiceActivity(speech["vad_aggressiveness"], hangover_ms=speech["vad_hangover_ms"])

    def callback(self, url: str, method: str, params: dict[str, str], after: asyncio.Task | None = None):
        from ..web.client import FetchError, Request

        request = Request(method, url, self.call.params(params), kind="callback")
        self.emit("request", method=method, url=url, params=request.params)

        async def send():
            if after is not None:
                await asyncio.gather(after, return_exceptions=True)
            try:
                await self.call.fetcher.fetch(request)
            except FetchError as e:
                self.emit("warning", message=f"stream statusCallback {url} failed: {e.message}")

        task = asyncio.create_task(send())
        self.call._background.add(task)
        task.add_done_callback(self.call._background.discard)
        return task
