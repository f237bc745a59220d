"""Text to speech with espeak-ng, as 8 kHz PCM for the line.

    >>> import asyncio
    >>> tts = Synthesizer()
    >>> pcm, warning = asyncio.run(tts.synth("Hello", "man", "en-US"))
    >>> warning, 0.2 < len(pcm) / 16000 < 2.0       # seconds of 8 kHz 16-bit speech
    (None, True)

Synthesis runs in a subprocess, off the event loop; recent phrases are kept
in memory because IVR prompts repeat. Without espeak-ng the box still keeps
time: it warns and returns silence as long as the phrase would take.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from .audio import RATE, AudioError, decode
from .voices import espeak_voice

SECONDS_PER_CHARACTER = 0.065


class Synthesizer:
    def __init__(self, cache_size: int = 128, command: str = "espeak-ng"):
        self.command = command
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    async def synth(self, text: str, voice: str = "man", language: str = "en-US") -> tuple[bytes, str | None]:
        name, warning = espeak_voice(voice, language)
        key = (text, name)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key], warning
        try:
            pcm = await self._run(text, name)
        except (OSError, AudioError) as e:
            seconds = max(0.5, len(text) * SECONDS_PER_CHARACTER)
            return bytes(2 * round(seconds * RATE)), f"speech synthesis failed ({e}); playing silence instead"
        self._cache[key] = pcm
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return pcm, warning

    async def _run(self, text: str, voice: str) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            self.command, "-v", voice, "--stdout",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate(text.encode())
        except asyncio.CancelledError:
            proc.kill()  # the prompt was cut off before it was even synthesized
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise OSError(f"{self.command} exited {proc.returncode}: {err.decode(errors='replace').strip()}")
        return decode(out)
