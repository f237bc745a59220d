"""Text to speech with espeak-ng, as 8 kHz PCM for the line, piece by piece.

    >>> import asyncio
    >>> tts = Synthesizer()
    >>> pcm, warning = asyncio.run(tts.synth("Hello", "man", "en-US"))
    >>> warning, 0.2 < len(pcm) / 16000 < 2.0       # seconds of 8 kHz 16-bit speech
    (None, True)
    >>> async def pieces():
    ...     return [len(pcm) > 0 async for pcm in tts.stream(segments("Hello. Goodbye.", 4096).pieces, "en-us")]
    >>> asyncio.run(pieces())
    [True, True]

Each piece (see ssml.segments) is synthesised by its own espeak-ng process
in SSML mode, off the event loop; ``stream`` yields a piece's audio as soon
as it is ready, so a long <Say> starts at once and the next piece is
synthesised while this one plays. Pieces are kept in a cache bounded in
bytes, because IVR prompts repeat. Without espeak-ng the box still keeps
time: it warns and plays silence as long as the text would take.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Callable

from drivers.constants import RATE

from ..config import defaults
from .cache import PcmCache
from .ssml import segments
from .voices import espeak_voice

SECONDS_PER_CHARACTER = 0.065
MB = 1024 * 1024


class Synthesizer:
    """The box's voice: espeak-ng, plus the byte-bounded caches of speech and decoded <Play> audio."""

    def __init__(self, cache_bytes: int | None = None, command: str = "espeak-ng",
                 audio_cache_bytes: int | None = None):
        media = defaults()["media"]
        self.command = command
        self.cache = PcmCache(int(media["tts_cache_mb"] * MB) if cache_bytes is None else cache_bytes)
        self.audio_cache = PcmCache(int(media["audio_cache_mb"] * MB)
                                    if audio_cache_bytes is None else audio_cache_bytes)
        self.runs = 0  # espeak-ng processes started

    @classmethod
    def from_config(cls, config: dict) -> "Synthesizer":
        media = config["media"]
        return cls(cache_bytes=int(media["tts_cache_mb"] * MB), audio_cache_bytes=int(media["audio_cache_mb"] * MB))

    async def stream(self, pieces: list[str], voice: str,
                     warn: Callable[[str], None] = lambda message: None) -> AsyncIterator[bytes]:
        """The audio of each SSML piece in turn; a failed piece is silence, with a warning."""
        failed = False
        for piece in pieces:
            key = (piece, voice)
            pcm = self.cache.get(key)
            if pcm is None:
                try:
                    pcm = await self._run(piece, voice)
                except OSError as e:
                    if not failed:
                        warn(f"speech synthesis failed ({e}); playing silence instead")
                    failed = True
                    seconds = max(0.5, len(segments(piece, len(piece)).plain) * SECONDS_PER_CHARACTER)
                    yield bytes(2 * round(seconds * RATE))
                    continue
                self.cache.put(key, pcm)
            yield pcm

    async def synth(self, text: str, voice: str = "man", language: str = "en-US") -> tuple[bytes, str | None]:
        """All of TEXT at once, with no length limit (the simulated caller's voice)."""
        name, warning = espeak_voice(voice, language)
        warnings = [warning] if warning else []
        pieces = segments(text, len(text)).pieces
        pcm = b"".join([chunk async for chunk in self.stream(pieces, name, warnings.append)])
        return pcm, "; ".join(warnings) or None

    async def _run(self, ssml: str, voice: str) -> bytes:
        self.runs += 1
        proc = await asyncio.create_subprocess_exec(
            self.command, "-m", "-v", voice, "--stdout",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate(ssml.encode())
        except asyncio.CancelledError:
            proc.kill()  # the prompt was cut off before it was even synthesized
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise OSError(f"{self.command} exited {proc.returncode}: {err.decode(errors='replace').strip()}")
        from .audio import AudioError, decode  # numpy loads with the first prompt, not at start-up

        try:
            return (await asyncio.to_thread(decode, out)).pcm
        except AudioError as e:
            raise OSError(f"{self.command} wrote audio that cannot be decoded: {e}") from e
