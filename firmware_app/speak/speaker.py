"""What <Say> and <Play> do on a call, within the [media] limits.

A Speaker joins the call's player, synthesiser, event emitter and clock
hold; here a bare player, drained a frame at a time as a line would:

    >>> import asyncio
    >>> from contextlib import nullcontext
    >>> from firmware_app.config import defaults
    >>> async def speak(text):
    ...     player, events = Player(), []
    ...     speaker = Speaker(player, Synthesizer(), defaults(), lambda name, **f: events.append((name, f)),
    ...                       nullcontext)
    ...     saying = asyncio.create_task(speaker.say(text, "man", "en-US"))
    ...     frames = 0
    ...     while not saying.done():
    ...         await asyncio.sleep(0)
    ...         frames += player.buffered > 0
    ...         player.next_frame()
    ...     return events, frames
    >>> events, frames = asyncio.run(speak("Hello"))
    >>> events, 10 < frames < 100          # 20 ms frames: a short word
    ([('say', {'text': 'Hello', 'voice': 'man', 'language': 'en-US'})], True)

- ``say``: the text (plain, or the <Say>'s SSML markup) is cut at
  ``max_say_characters`` with a warning, and spoken piece by piece as it
  is synthesised;
- ``digits``: <Play digits>, at most ``max_play_digits`` characters, made
  key by key as they play (a long run of ``w`` pauses costs nothing);
- ``audio``: a fetched file decoded block by block in a worker thread, cut
  at ``max_play_seconds`` with a warning, kept decoded in a byte-bounded cache.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Callable

import numpy as np

from ..config import defaults
from ..listen.tones import dtmf_audio
from .audio import RATE, AudioError, Blocks, stream
from .player import Player
from .ssml import NO_TEXT, from_markup, segments
from .tts import Synthesizer
from .voices import espeak_voice

BLOCK_SAMPLES = RATE  # decoded audio is handed to the player a second at a time


class Speaker:
    def __init__(self, player: Player, tts: Synthesizer, config: dict, emit: Callable[..., None], hold):
        self.player = player
        self.tts = tts
        self.media = config.get("media") or defaults()["media"]
        self.emit = emit
        self.hold = hold

    def warn(self, message: str) -> None:
        self.emit("warning", message=message)

    async def say(self, text: str, voice: str, language: str, ssml: str = "") -> None:
        """Speak TEXT, or SSML when the <Say> had tags (its content as markup)."""
        if ssml:
            text, _, warnings = from_markup(ssml)
            for warning in warnings:
                if warning != NO_TEXT:  # the parser has said so
                    self.warn(warning)
        if not text.strip():
            return  # the parser has warned "<Say> has no text"
        limit = self.media["max_say_characters"]
        parts = segments(text, limit)
        if parts.cut:
            self.warn(f"<Say> text is over Twilio's {limit}-character limit; "
                      f"speaking the first {parts.length} characters and dropping the rest")
        name, warning = espeak_voice(voice, language)
        if warning:
            self.warn(warning)

        async def chunks():
            said = False
            async for pcm in self.tts.stream(parts.pieces, name, self.warn):
                if not said:
                    self.emit("say", text=parts.plain, voice=voice, language=language)
                    said = True
                yield pcm

        await self.player.play_stream(chunks(), self.hold)

    async def digits(self, digits: str) -> None:
        limit = self.media["max_play_digits"]
        if len(digits) > limit:
            self.warn(f"<Play digits> has {len(digits)} characters, over the limit of {limit}; "
                      "the rest are dropped")
            digits = digits[:limit]
        self.emit("play", url="", digits=digits)

        async def chunks():
            for key in digits:
                yield dtmf_audio(key).tobytes()

        await self.player.play_stream(chunks(), self.hold)

    async def audio(self, url: str, body: bytes) -> None:
        """Play fetched audio; what cannot be decoded is error 12300 and the call goes on."""
        media = self.media
        try:
            with self.hold():
                key = (url, await asyncio.to_thread(_digest, body))
                cached = self.tts.audio_cache.get(key)
                if cached is None:
                    blocks = await asyncio.to_thread(stream, body, media["max_play_seconds"],
                                                     media["min_sample_rate"], media["max_sample_rate"])
        except AudioError as e:
            self.emit("error", code=12300, message=f"<Play> {e}", url=url)
            return
        if cached is not None:
            self.emit("play", url=url)
            await self.player.play(cached)
            return
        started = False
        kept: list[bytes] | None = []
        kept_bytes = 0

        async def chunks():
            nonlocal started, kept, kept_bytes
            while (pcm := await asyncio.to_thread(_next_block, blocks)) is not None:
                if not started:
                    self.emit("play", url=url)
                    started = True
                if kept is not None:
                    kept.append(pcm)
                    kept_bytes += len(pcm)
                    if kept_bytes > self.tts.audio_cache.max_bytes:
                        kept = None  # too big to keep: do not hold on to it
                yield pcm

        try:
            await self.player.play_stream(chunks(), self.hold)
        except AudioError as e:
            if started:
                self.warn(f"<Play> stopped: {e}")
            else:
                self.emit("error", code=12300, message=f"<Play> {e}", url=url)
            return
        if blocks.cut:
            self.warn(f"<Play> audio is longer than the {media['max_play_seconds']:g} s limit; "
                      "the rest was not played")
        if kept is not None:
            self.tts.audio_cache.put(key, b"".join(kept))


def _digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).digest()


def _next_block(blocks: Blocks) -> bytes | None:
    """About a second of decoded audio, or None at the end (runs in a worker thread)."""
    parts, size = [], 0
    for block in blocks:
        parts.append(block)
        size += len(block)
        if size >= BLOCK_SAMPLES:
            break
    return np.concatenate(parts).tobytes() if parts else None
