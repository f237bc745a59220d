"""The Line interface every driver implements.

A line carries one call at a time. Audio crosses it as 20 ms frames of
8 kHz, 16-bit little-endian mono PCM (160 samples, 320 bytes; see
``drivers.constants``) in both directions. Time in the box comes from these frames: a hardware line hands
them over in real time, the simulator as fast as the CPU allows.

    >>> import asyncio
    >>> from drivers import open_line
    >>> async def one_frame(url):
    ...     line = open_line(url)
    ...     info = await line.wait_for_call()
    ...     await line.answer()
    ...     frame = await line.read_frame()
    ...     await line.write_frame(frame)
    ...     await line.hangup()
    ...     return info.caller, len(frame)
    >>> asyncio.run(one_frame("sim:?caller=%2B15550123"))
    ('+15550123', 320)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


class LineError(Exception):
    """The line or its device failed (unplugged, refused, wedged)."""


class HungUp(Exception):
    """The far end went away: the caller hung up or replaced the handset."""


@dataclass
class CallInfo:
    """What a line knows about an incoming call before it is answered."""

    caller: str = ""
    called: str = ""
    name: str = ""
    rings: int = 0


class Heard(bytes):
    """A frame heard through an echo canceller. As bytes it is what voice
    activity and DTMF go by: the box's echo taken out and what is left of it
    suppressed, which mutes the caller too while the canceller is unsure.
    ``linear`` is the canceller's filter output alone: the caller intact under
    a little echo, for a recognizer once voice activity has found the caller.

    >>> frame = Heard(bytes(2), linear=b"ab")
    >>> frame == bytes(2), frame.linear, speech_of(frame), speech_of(bytes(2))
    (True, b'ab', b'ab', b'\\x00\\x00')
    """

    def __new__(cls, frame: bytes, linear: bytes):
        heard = super().__new__(cls, frame)
        heard.linear = linear
        return heard


def speech_of(frame: bytes) -> bytes:
    """What a recognizer should hear of FRAME: its ``linear`` audio if it has one."""
    return frame.linear if isinstance(frame, Heard) else frame


@dataclass
class LineEvent:
    """Something the line reports besides audio.

    kind is one of ``ring``, ``caller_id``, ``hook`` (value ``on`` or
    ``off``), ``key`` (a press on the box's own keypad), ``dtmf`` (a digit
    the line's hardware detected itself) or ``hangup``.
    """

    kind: str
    value: object = None
    data: dict = field(default_factory=dict)


class Line:
    """Base class for lines. Subclasses override the coroutines they support.

    ``realtime`` is True when frames arrive paced by hardware; the simulator
    sets it False, and the call then lets the interpreter settle between
    frames, which makes simulated calls fast and deterministic.
    """

    realtime = True
    #: The exchange does not tell an FXO line that the far end hung up; it
    #: plays busy, reorder or dial tone. A line that sets ``hangup_tones``
    #: asks the call to listen for them in the caller's audio, and
    #: ``hangup_silence`` for that many seconds of near silence (0: never).
    hangup_tones = False
    hangup_silence = 0.0
    #: The line can flash its hook and dial out on it: <Dial> as a blind
    #: transfer. ``flash_seconds`` is how long a flash holds the line on hook.
    can_transfer = False
    flash_seconds = 0.6
    #: The simulator plays Twilio's bridged call: the box stays on the line
    #: through the dialled call instead of hanging up to hand the caller over.
    bridges = False

    def __init__(self) -> None:
        self.events: asyncio.Queue[LineEvent] = asyncio.Queue()

    async def open(self) -> None:
        """Acquire the device. Raises LineError with a clear message."""

    async def close(self) -> None:
        """Release the device. Safe to call twice."""

    async def wait_for_call(self) -> CallInfo:
        """Return when a call should be answered (rings counted, handset lifted)."""
        raise NotImplementedError

    async def answer(self) -> None:
        """Go off hook and start audio."""

    async def hangup(self) -> None:
        """Go on hook and stop audio."""

    async def read_frame(self) -> bytes:
        """The next 20 ms of caller audio; raises HungUp when the far end is gone."""
        raise NotImplementedError

    async def write_frame(self, frame: bytes) -> None:
        """Queue 20 ms of audio towards the caller."""
        raise NotImplementedError

    @property
    def output_delay(self) -> float:
        """Seconds until a frame written now reaches the caller: the box's audio
        the line holds queued ahead of it. A line that queues nothing has none."""
        return 0.0

    def discard_output(self) -> int:
        """Drop the box's audio queued on the line but not yet played (a prompt
        cut off by barge-in), so the caller stops hearing it at once; returns
        how many frames. A line that queues nothing has nothing to drop."""
        return 0

    async def flash(self, seconds: float) -> None:
        """Put the line on hook for ``seconds`` and back (a hook flash: the
        exchange gives a new dial tone while it holds the caller)."""
        raise LineError(f"{type(self).__name__} cannot flash its hook")

    async def dial(self, digits: str) -> bool:
        """Dial ``digits`` with the line's own dialler; False when it has none
        and the box is to send them as DTMF audio."""
        return False

    def post(self, kind: str, value: object = None, **data) -> None:
        self.events.put_nowait(LineEvent(kind, value, data))

    def observe(self, event: dict) -> None:
        """Called with every event the call emits; the simulator's caller listens here."""

    async def __aenter__(self):
        await self.open()
        return self

    async def __aexit__(self, *exc):
        await self.close()
