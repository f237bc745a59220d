"""What a stream needs from the call, and the queue of audio it plays.

A session never touches the line, the clock or the interpreter: it talks to
a Port. The call's frame pump hands every caller frame and every frame the
box sends to the taps, pushes each digit to them, and drains ``voice``
(one 20 ms frame a tick) while a session is connected.

    >>> queue = VoiceQueue()
    >>> queue.push(bytes(480))
    True
    >>> queue.mark("m1")
    >>> len(queue.next_frame()), queue.next_frame()[:2], queue.take_marks()
    (320, b'\\x00\\x00', ['m1'])
    >>> queue.next_frame() is None
    True
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Callable, Protocol

from drivers.constants import FRAME_BYTES, FRAME_SECONDS

FRAME_MS = round(FRAME_SECONDS * 1000)
# Audio a server may queue ahead of the caller: ten minutes at 16 kB/s.
MAX_QUEUED_BYTES = 10 * 60 * 16000


@dataclass
class Taps:
    """Callbacks the pump calls: ``inbound(frame, tone)`` for the caller's audio
    (``tone``: a DTMF tone is in it, which is not voice), ``outbound(frame)`` for
    what the box sent, ``digit(key)`` for each key."""

    inbound: Callable[[bytes, bool], None] | None = None
    outbound: Callable[[bytes], None] | None = None
    digit: Callable[[str], None] | None = None


class Port(Protocol):
    call_sid: str
    account_sid: str
    auth_token: str
    caller: str
    called: str
    realtime: bool                                  # False in the simulator: the session paces itself
    voice: "VoiceQueue"

    @property
    def now(self) -> float: ...                     # call seconds
    def emit(self, event: str, **fields) -> None: ...
    def tap(self, taps: Taps) -> Callable[[], None]: ...     # returns the untap
    def hold(self) -> AbstractContextManager: ...   # stop call time while waiting on wall-clock work
    async def synth(self, text: str, voice: str, language: str) -> bytes: ...
    async def fetch_audio(self, url: str) -> bytes: ...     # raises PortError with code and message
    def speech(self, language: str, hints: list[str]): ...  # a listen.session.SpeechSession, or None (warned)
    def vad(self): ...                              # a fresh listen.vad.VoiceActivity
    def callback(self, url: str, method: str, params: dict[str, str],
                 after: asyncio.Task | None = None) -> asyncio.Task: ...  # sent after AFTER, never awaited


class PortError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Mark:
    name: str


@dataclass
class VoiceQueue:
    """Audio a session queued for the caller, in order, with marks between.

    A mark is due once every byte queued before it has played: been handed
    to the line, and then come out of whatever the line holds queued ahead
    of it (``next_frame(lag)``; a sound card's queue and buffer), so it is
    due when the caller has heard that audio, as Twilio's are. ``clear()``
    drops the audio and makes every pending mark due at once, as Twilio's
    ``clear`` does.

    >>> queue = VoiceQueue()
    >>> queue.push(bytes(320))
    True
    >>> queue.mark("after")
    >>> [(queue.next_frame(lag=0.05) is not None, queue.take_marks(), queue.heard_ms) for _ in range(5)]
    [(True, [], 0), (False, [], 0), (False, [], 0), (False, ['after'], 20), (False, [], 20)]
    """

    items: deque = field(default_factory=deque)
    queued: int = 0
    played_ms: int = 0  # voice handed to the line
    heard_ms: int = 0   # ... and out of the line to the caller
    cut: bool = False  # audio was dropped unplayed: the line may drop what it queued too
    _head: bytes = b""
    _tick: int = 0  # frames the pump has asked for: the line gets one a tick
    _unheard: deque = field(default_factory=deque)  # (tick handed out, played_ms then, [marks after it])
    _heard_marks: list = field(default_factory=list)

    def push(self, pcm: bytes) -> bool:
        """Queue PCM; False (nothing queued) if the queue is full."""
        if self.queued + len(pcm) > MAX_QUEUED_BYTES:
            return False
        if pcm:
            self.items.append(pcm)
            self.queued += len(pcm)
        return True

    def mark(self, name: str) -> None:
        self.items.append(_Mark(name))
        self._settle_marks()

    def clear(self) -> list[str]:
        """Drop what has not played; return the marks that were pending, in order.

        That includes marks whose audio the line still holds: the line drops that audio too."""
        self.cut = self.cut or self.queued > 0 or bool(self._unheard)
        self._hear(until=None)
        pending = self._heard_marks + [item.name for item in self.items if isinstance(item, _Mark)]
        self._heard_marks = []
        self.items.clear()
        self._head, self.queued = b"", 0
        return pending

    @property
    def busy(self) -> bool:
        return bool(self._head) or any(not isinstance(i, _Mark) for i in self.items)

    def next_frame(self, lag: float = 0.0) -> bytes | None:
        """The next 20 ms to play, or None when nothing is queued. LAG: seconds
        of audio the line holds ahead of this frame, which the caller hears first."""
        self._tick += 1
        frame = self._head
        # A mark ends the frame: it is due after it. (One with no audio before it was settled already.)
        while len(frame) < FRAME_BYTES and self.items and not isinstance(self.items[0], _Mark):
            frame += self.items.popleft()
        if frame:
            frame, self._head = frame[:FRAME_BYTES], frame[FRAME_BYTES:]
            self.queued -= len(frame)
            self.played_ms += FRAME_MS
            self._unheard.append((self._tick, self.played_ms, []))
            if not self._head:
                self._settle_marks()
        # The line holds the frames of the last LAG's worth of ticks; older ones have been heard.
        self._hear(until=self._tick - math.ceil(round(lag / FRAME_SECONDS, 6)))
        return frame.ljust(FRAME_BYTES, b"\0") if frame else None

    def _hear(self, until: int | None) -> None:
        """Frames handed out by tick UNTIL (all of them, for None) have been heard."""
        while self._unheard and (until is None or self._unheard[0][0] <= until):
            _, self.heard_ms, marks = self._unheard.popleft()
            self._heard_marks.extend(marks)

    def _settle_marks(self) -> None:
        """Marks whose audio has all been handed out are heard with its last frame."""
        while not self._head and self.items and isinstance(self.items[0], _Mark):
            (self._unheard[-1][2] if self._unheard else self._heard_marks).append(self.items.popleft().name)

    def take_marks(self) -> list[str]:
        """Marks whose audio the caller has heard since the last call."""
        due, self._heard_marks = self._heard_marks, []
        return due
