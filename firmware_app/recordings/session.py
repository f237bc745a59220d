"""The call's side of one <Record>: fed by the frame pump, read by the verb.

It is the frame pump's listener while recording: every caller frame goes to
``feed`` (with the DTMF detector's verdict), every key to ``digit``; the
call hands it the caller's hang-up (``hung_up``); the <Record> verb reads ``next`` (keys, speech edges, the
hang-up) and ``silence``, and ends with ``finish``, which cuts, trims and
stores the audio off the event loop (``finish`` returns None when the caller
never spoke).
"""

from __future__ import annotations

import asyncio

from ..twiml.channel import Input, Saved
from .store import Recording, new_sid
from .take import Take

class RecordSession:
    def __init__(self, recordings, clock, *, call_sid: str, caller: str, called: str,
                 aggressiveness: int = 2, hangover_ms: int = 300):
        self.recordings = recordings
        self.clock = clock                              # the call's: its sleep, and hold() for work off the loop
        self.call_sid, self.caller, self.called = call_sid, caller, called
        self.sid = new_sid("RE")
        self.url = recordings.url(self.sid)
        self.take = Take(recordings.store.dir / f"{self.sid}.raw", aggressiveness=aggressiveness,
                         hangover_ms=hangover_ms)
        self.queue: asyncio.Queue[Input] = asyncio.Queue()
        self.gone = False                              # the caller hung up while recording
        self.stopped = False
        self._speaking = False

    @property
    def seconds(self) -> float:
        return self.take.seconds

    @property
    def silence(self) -> float:
        return self.take.silence

    def feed(self, frame: bytes, tone: bool) -> None:
        if self.gone or self.stopped:
            return
        self.take.feed(frame, tone)
        if self.take.vad.speaking != self._speaking:
            self._speaking = self.take.vad.speaking
            self.queue.put_nowait(Input("speech_start" if self._speaking else "speech_end"))

    def digit(self, key: str) -> None:
        self.queue.put_nowait(Input("digit", key))

    async def settle(self) -> None:
        """Nothing runs off the loop while recording: the simulator's pump need not wait."""

    def hung_up(self) -> None:
        """The verb then ends as for a hang-up, even if it was already finishing."""
        if not self.gone:
            self.gone = True
            self.queue.put_nowait(Input("hangup"))

    async def next(self, timeout: float | None) -> Input | None:
        """The next input, or None once TIMEOUT call seconds pass without one."""
        return await self.clock.get(self.queue, timeout)

    async def finish(self, trim: bool) -> Saved | None:
        """Store the recording; None when the caller never spoke (an empty recording)."""
        self.stopped = True
        try:
            with self.clock.hold():
                keep = await asyncio.to_thread(self.take.keep, trim)
                if keep is None:
                    return None
                rec: Recording = await asyncio.to_thread(self.recordings.store.save, self.take.kept(keep),
                                                         call_sid=self.call_sid, caller=self.caller,
                                                         called=self.called, sid=self.sid)
        finally:
            self.take.discard()
        return Saved(rec.sid, self.url, rec.duration)

    def discard(self) -> None:
        self.take.discard()
