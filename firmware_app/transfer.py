"""Dialling out on the caller's own line: <Dial> as a blind transfer.

A box on one analog line cannot bridge two calls. What the line can do
(``Line.can_transfer``) is flash its hook: the exchange holds the caller and
gives a new dial tone. The box then dials (with the line's own dialler, or
DTMF audio), listens to the call progress (``listen/progress.py``: ringback,
an answer, busy, reorder) and either hangs up, handing the caller over, or
flashes again to take the caller back when the far end was busy, failed or
did not answer.

The simulator's line ``bridges``: it plays Twilio's bridged call, so the box
stays on through the dialled call and reports its duration.
"""

from __future__ import annotations

import asyncio

from drivers.line import LineError

from .listen.progress import HangupTones
from .listen.tones import dtmf_audio
from .pump import FramePump
from .stream.port import Taps
from .twiml.channel import Dialled, DialRequest

DIAL_TONE_WAIT = 5.0      # seconds after the flash for dial tone to come
DIAL_TONE_SECONDS = 1.0   # steady dial tone that counts as one
GONE = ("busy", "reorder", "dial")  # what the far end hanging up sounds like
FAILED = {"busy": "busy", "reorder": "failed", "dial": "failed"}


class Transfer:
    def __init__(self, pump: FramePump, emit) -> None:
        self.pump, self.line, self.clock, self.emit = pump, pump.line, pump.clock, emit
        self.heard: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self.detector: HangupTones | None = None

    def _frame(self, frame: bytes, tone: bool) -> None:
        if self.detector is not None and (sound := self.detector.feed(frame)):
            self.heard.put_nowait((sound, self.detector.heard_for))

    def _key(self, key: str) -> None:
        if key == "*":
            self.heard.put_nowait(("star", 0.0))

    def _listen(self, **options) -> None:
        self.detector = HangupTones(**options) if options else None
        while not self.heard.empty():
            self.heard.get_nowait()

    async def _hear(self, wanted: tuple[str, ...], seconds: float) -> tuple[str, float] | None:
        """The first of ``wanted`` heard within ``seconds`` of call time, with its
        call time of onset; None when the time ran out."""
        if seconds <= 0:
            return None
        deadline = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            while True:
                get = asyncio.ensure_future(self.heard.get())
                await asyncio.wait({get, deadline}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    return None
                sound, lasted = get.result()
                if sound in wanted:
                    return sound, self.clock.t - lasted
        finally:
            deadline.cancel()

    async def _send(self, digits: str) -> None:
        if not await self.line.dial(digits):
            await self.pump.player.play(dtmf_audio(digits).tobytes())

    async def _back(self, status: str, reason: str = "", duration: float = 0.0) -> Dialled:
        """Flash again: the exchange drops the dialled leg and returns the caller."""
        self._listen()
        try:
            await self.line.flash(self.line.flash_seconds)
        except LineError as e:
            reason = f"{reason}; taking the caller back failed: {e}".lstrip("; ")
        return Dialled(status, round(duration), reason=reason)

    async def run(self, request: DialRequest) -> Dialled:
        if not self.line.can_transfer:
            return Dialled("failed", reason=f"this line ({type(self.line).__name__}) has no outside line to dial on")
        taps = Taps(inbound=self._frame, digit=self._key)
        self.pump.hear_hangup = False
        self.pump.taps.append(taps)
        try:
            return await self._dial(request)
        finally:
            self.detector = None
            self.pump.hear_hangup = True
            self.pump.taps.remove(taps)

    async def _dial(self, r: DialRequest) -> Dialled:
        self._listen(dial_seconds=DIAL_TONE_SECONDS)
        try:
            await self.line.flash(self.line.flash_seconds)
        except LineError as e:
            return Dialled("failed", reason=f"the line cannot flash its hook: {e}")
        try:
            if await self._hear(("dial",), DIAL_TONE_WAIT) is None:
                return await self._back("failed", "no dial tone after the hook flash")
            self._listen()
            await self._send(r.number)
        except LineError as e:
            return await self._back("failed", f"the line could not dial: {e}")
        self._listen(ringback=True)
        start = self.clock.t
        heard = await self._hear(("ringback", "answer", *GONE), r.timeout)
        if heard is None:
            return await self._back("no-answer", f"no answer in {r.timeout:g} s")
        if heard[0] in GONE:
            return await self._back(FAILED[heard[0]], f"the far end gave {heard[0]} tone")
        if heard[0] == "ringback" and (self.line.bridges or r.send_digits):
            heard = await self._hear(("answer", *GONE), start + r.timeout - self.clock.t)
            if heard is None:
                return await self._back("no-answer", f"no answer in {r.timeout:g} s")
            if heard[0] in GONE:
                return await self._back(FAILED[heard[0]], f"the far end gave {heard[0]} tone")
        answered = heard[1]
        if r.send_digits:
            try:
                await self._send(r.send_digits)
            except LineError as e:
                self.emit("warning", message=f"<Number sendDigits> could not be sent: {e}")
        if not self.line.bridges:
            return Dialled("completed", handed_over=True)
        self._listen(ringback=True)
        ended = await self._hear((*(("star",) if r.hangup_on_star else ()), *GONE), r.time_limit)
        until = ended[1] if ended else self.clock.t
        return await self._back("completed", duration=until - answered)
