"""The box's voice: plays PCM towards the caller, one 20 ms frame per tick.

``await player.play(pcm)`` returns when the last frame has gone out;
cancelling it stops playback before the next frame, which is how barge-in
cuts a prompt off.
"""

from __future__ import annotations

import asyncio

from drivers.constants import FRAME_BYTES, SILENCE


class Player:
    def __init__(self) -> None:
        self._pcm = b""
        self._pos = 0
        self._done: asyncio.Future | None = None

    async def play(self, pcm: bytes) -> None:
        if not pcm:
            return
        self._pcm, self._pos = pcm, 0
        self._done = asyncio.get_running_loop().create_future()
        try:
            await self._done
        finally:
            self._pcm, self._pos, self._done = b"", 0, None

    def next_frame(self) -> bytes:
        if self._done is None:
            return SILENCE
        frame = self._pcm[self._pos:self._pos + FRAME_BYTES]
        self._pos += FRAME_BYTES
        if self._pos >= len(self._pcm) and not self._done.done():
            self._done.set_result(None)
        if len(frame) < FRAME_BYTES:
            frame += bytes(FRAME_BYTES - len(frame))
        return frame
