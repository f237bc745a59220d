"""The box's voice: plays PCM towards the caller, one 20 ms frame per tick.

``await player.play(pcm)`` returns when the last frame has gone out;
``await player.play_stream(chunks, hold)`` plays an async iterator of PCM
chunks as they come (speech synthesised piece by piece, audio decoded block
by block), keeping at most ``AHEAD`` seconds buffered; ``hold`` (the call
clock's) stops virtual time while the next chunk is awaited, so a simulated
call hears no gap. Cancelling either stops playback before the next frame,
which is how barge-in cuts a prompt off.

    >>> import asyncio
    >>> async def chunks():
    ...     yield bytes(400); yield bytes(300)
    >>> async def demo():
    ...     player = Player()
    ...     playing = asyncio.create_task(player.play_stream(chunks()))
    ...     await asyncio.sleep(0)
    ...     frames = [len(player.next_frame()) for _ in range(3)]
    ...     await playing
    ...     return frames, playing.done()
    >>> asyncio.run(demo())
    ([320, 320, 320], True)
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import nullcontext
from typing import AsyncIterator

from drivers.constants import FRAME_BYTES, RATE, SILENCE

AHEAD = 10 * RATE * 2  # bytes: ten seconds


class Player:
    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._offset = 0  # into the first chunk
        self._buffered = 0
        self._ended = True
        self._done: asyncio.Future | None = None
        self._room: asyncio.Future | None = None
        self.cut = False  # audio was dropped unplayed (barge-in): the line may drop what it queued too

    @property
    def buffered(self) -> int:
        """Bytes waiting to be played."""
        return self._buffered

    async def play(self, pcm: bytes) -> None:
        async def once():
            yield pcm
        await self.play_stream(once())

    async def play_stream(self, chunks: AsyncIterator[bytes], hold=nullcontext) -> None:
        loop = asyncio.get_running_loop()
        self._chunks.clear()
        self._offset = self._buffered = 0
        self._ended = False
        self._done = loop.create_future()
        it = aiter(chunks)
        try:
            while True:
                with hold():
                    chunk = await anext(it, None)
                if chunk is None:
                    break
                if chunk:
                    self._chunks.append(chunk)
                    self._buffered += len(chunk)
                while self._buffered > AHEAD:
                    self._room = loop.create_future()
                    await self._room
            self._ended = True
            if not self._buffered and not self._done.done():
                self._done.set_result(None)
            await self._done
        finally:
            self.cut = self.cut or self._buffered > 0
            self._chunks.clear()
            self._offset = self._buffered = 0
            self._ended = True
            self._done = self._room = None
            if hasattr(it, "aclose"):
                await it.aclose()

    def next_frame(self) -> bytes:
        if self._done is None or not self._buffered:
            return SILENCE
        parts, need = [], FRAME_BYTES
        while need and self._chunks:
            head = self._chunks[0]
            piece = head[self._offset:self._offset + need]
            parts.append(piece)
            need -= len(piece)
            self._offset += len(piece)
            if self._offset >= len(head):
                self._chunks.popleft()
                self._offset = 0
        frame = b"".join(parts)
        self._buffered -= len(frame)
        if self._room is not None and self._buffered <= AHEAD and not self._room.done():
            self._room.set_result(None)
        if not self._buffered and self._ended and not self._done.done():
            self._done.set_result(None)
        return frame + bytes(FRAME_BYTES - len(frame))
