"""Real-time pacing for a stream in the simulator.

A simulated call runs on a virtual clock, as fast as the CPU allows; the far
end of a stream lives in wall-clock time. While a stream is open, each frame
holds the call clock until its wall-clock deadline, so agent replies land at
the right moment. On a hardware line frames are already paced: nothing to do.
"""

from __future__ import annotations

import asyncio

from drivers.constants import FRAME_SECONDS


class Pacer:
    def __init__(self, port):
        self.port = port
        self._origin: float | None = None
        self._frames = 0
        self._holds: list = []

    def frame(self) -> None:
        if self.port.realtime:
            return
        loop = asyncio.get_running_loop()
        if self._origin is None:
            self._origin = loop.time()
        self._frames += 1
        deadline = self._origin + self._frames * FRAME_SECONDS
        if deadline <= loop.time():
            return
        hold = self.port.hold()
        hold.__enter__()
        self._holds.append(hold)
        loop.call_at(deadline, self._release, hold)

    def _release(self, hold) -> None:
        if hold in self._holds:
            self._holds.remove(hold)
            hold.__exit__(None, None, None)

    def stop(self) -> None:
        for hold in self._holds[:]:
            self._release(hold)
