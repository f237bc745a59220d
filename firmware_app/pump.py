"""The frame pump: a call's heartbeat.

Each 20 ms it reads a frame from the line, runs the DTMF detector over it,
counts each digit once (in-band, keypad and modem reports merged), feeds the
listener of a running <Gather> and the taps of running streams, advances the
clock, and writes the next frame of the box's voice (a stream's queued audio
first, else the player's); when either was cut off (barge-in), the line drops
what it had queued of it. On a simulated line it lets the call settle between
frames, so a simulated call is fast and deterministic.

    >>> import asyncio
    >>> from drivers.sim import SimLine
    >>> async def main():
    ...     pump = FramePump(SimLine(script="wait:0.1"), emit=lambda event, **f: None)
    ...     await pump.start()
    ...     await pump.clock.sleep(1.0)
    ...     await pump.stop()
    ...     return pump.clock.t
    >>> asyncio.run(main())
    1.0
"""

from __future__ import annotations

import asyncio
from typing import Callable

from drivers.line import HungUp, Line, LineError

from .clock import Clock
from .listen.digits import DigitStream
from .listen.listener import Listener
from .speak.player import Player
from .stream.port import Taps, VoiceQueue


class FramePump:
    def __init__(self, line: Line, emit: Callable[..., None], on_line_failure: Callable[[], None] = lambda: None):
        self.line = line
        self.emit = emit
        self.on_line_failure = on_line_failure
        self.clock = Clock()
        self.player = Player()
        self.detector = None            # the DTMF detector, from the answer on
        self.digits = DigitStream()
        self.listener: Listener | None = None
        self.voice = VoiceQueue()       # a stream's audio for the caller, played before the player's
        self.taps: list[Taps] = []      # stream sessions watching the call's audio and keys
        self.gone = asyncio.Event()  # the caller hung up, or the line failed
        self.hangup_reason = ""      # what the far end's hang-up sounded like (busy, reorder, ...), if heard
        self.hear_hangup = True      # False while the box itself put the line through call-progress tones
        self._task: asyncio.Task | None = None

    def forget_earlier_events(self) -> None:
        """What the line reported before this call (a handset put down after the
        last one, keys pressed while idle) is not this call's."""
        while not self.line.events.empty():
            self.line.events.get_nowait()

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        """Answer the line and start pumping; later calls do nothing."""
        if self._task is None:
            from .listen.dtmf import DtmfDetector  # numpy: a call that is never answered goes without

            self.detector = DtmfDetector()
            await self.line.answer()
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        from .listen.progress import HangupTones

        settle = not self.line.realtime
        tones, silence = self.line.hangup_tones, self.line.hangup_silence
        progress = HangupTones(tones=tones, silence=silence) if tones or silence else None
        try:
            while True:
                frame = await self.line.read_frame()
                if progress is not None and self.hear_hangup and (reason := progress.feed(frame)):
                    self.hangup_reason = reason
                    raise HungUp(f"far end hung up: {reason}")
                while not self.line.events.empty():
                    self._line_event(self.line.events.get_nowait())
                for key in self.detector.feed(frame):
                    self._key(key, "inband")
                if self.listener is not None:
                    self.listener.feed(frame, self.detector.tone)
                for tap in self.taps[:] if self.taps else ():
                    if tap.inbound:
                        tap.inbound(frame, self.detector.tone)
                self.clock.tick()
                if settle:
                    if self.listener is not None:
                        await self.listener.settle()
                    await self.clock.settle()
                out = self.voice.next_frame(self.line.output_delay) or self.player.next_frame()
                if self.player.cut or self.voice.cut:
                    self.player.cut = self.voice.cut = False
                    self.line.discard_output()
                for tap in self.taps[:] if self.taps else ():
                    if tap.outbound:
                        tap.outbound(out)
                await self.line.write_frame(out)
        except HungUp:
            self.gone.set()
        except Exception as e:
            self.emit("error", code=0, message=f"the line failed: {type(e).__name__}: {e}")
            self.on_line_failure()
            self.gone.set()
            if not isinstance(e, LineError):
                raise

    def _line_event(self, ev) -> None:
        if ev.kind in ("key", "dtmf"):
            self._key(str(ev.value), "keypad" if ev.kind == "key" else "modem")
        elif ev.kind == "hangup" or (ev.kind == "hook" and ev.value == "on"):
            self.gone.set()

    def _key(self, key: str, source: str) -> None:
        if self.digits.push(key, source, self.clock.t):
            self.emit("_digit", key=key, source=source)
            if self.listener is not None:
                self.listener.digit(key)
            for tap in self.taps[:]:
                if tap.digit:
                    tap.digit(key)
