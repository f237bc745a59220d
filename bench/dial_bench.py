"""<Dial> on the simulated FXO line: call seconds from the hook flash to DialCallStatus.

The simulator's exchange (drivers/sim_exchange.py) plays dial tone after the
flash and then the far end; the line here hands the caller over at ringback,
as an FXO line does (``bridges = False``). The peer is the sound itself: the
seconds of tone a perfect detector needs (1 s of dial tone, the exchange's
0.5 s post-dial delay and the DTMF of the number, then one 2 s ring, 2.5 s
of busy or 1.25 s of reorder). The wall-clock time of each simulated dial is
given too.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from drivers.constants import FRAME_SECONDS, SILENCE
from drivers.sim import SimLine
from firmware_app.call import Call
from firmware_app.config import defaults
from firmware_app.web.client import Response

NUMBER = "5551234"
DIGITS = len(NUMBER) * 0.2
NEEDED = {"answered": 1.0 + DIGITS + 0.5 + 2.0, "busy": 1.0 + DIGITS + 0.5 + 2.5, "failed": 1.0 + DIGITS + 0.5 + 1.25}
STATUS = {"answered": "completed", "busy": "busy", "failed": "failed"}


class FxoLikeLine(SimLine):
    bridges = False

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.flashed_at: float | None = None

    async def flash(self, seconds: float) -> None:
        if self.flashed_at is None:
            self.flashed_at = self.frames * FRAME_SECONDS
        await super().flash(seconds)

    async def dial(self, digits: str) -> bool:
        await super().dial(digits)
        # As on an FXO line the digits go out as DTMF audio, and the far end comes after them.
        self._far = itertools.chain(itertools.repeat(SILENCE, round(DIGITS / FRAME_SECONDS)), self._far)
        return False


class Server:
    async def fetch(self, request):
        return Response(request.url, 200, f"<Response><Dial>{NUMBER}</Dial></Response>".encode())


async def one(outcome: str) -> tuple[float, str, float]:
    config = defaults()
    config["server"]["url"] = "http://example.com/ivr"
    line = FxoLikeLine(script=f"dial:{outcome}")
    events = []
    call = Call(line, config, fetcher=Server(), sinks=[events.append])
    started = time.perf_counter()
    await call.run(line.info)
    wall = time.perf_counter() - started
    dial = next(e for e in events if e["event"] == "dial")
    return dial["t"] - line.flashed_at, dial["status"], wall


def main() -> None:
    print(f"{'far end':10} {'status':10} {'flash to status':>16} {'tone needed':>12} {'ratio':>6} {'wall s':>7}")
    for outcome in ("answered", "busy", "failed"):
        seconds, status, wall = asyncio.run(one(outcome))
        assert status == STATUS[outcome], status
        print(f"{outcome:10} {status:10} {seconds:15.2f}s {NEEDED[outcome]:11.2f}s "
              f"{seconds / NEEDED[outcome]:6.2f} {wall:7.3f}")


if __name__ == "__main__":
    main()
