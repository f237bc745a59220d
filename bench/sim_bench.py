"""The call engine's speed: simulated call-seconds per wall-second, CPU per
call-minute, response-to-audio latency, and barge-in latency.

A 60-second call (a prompt, a gather answered with DTMF, a menu, a gather
that times out, a pause) runs through the real Call, frame pump, DTMF
detector and a real local HTTP server, once with TTS cold and again with
its cache warm, so that synthesis time is reported apart from the engine's.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from drivers.sim import SimLine  # noqa: E402
from firmware_app.call import Call  # noqa: E402
from firmware_app.config import load  # noqa: E402
from firmware_app.speak.tts import Synthesizer  # noqa: E402
from firmware_app.web import build_fetcher  # noqa: E402
from twiml_server import TwimlServer  # noqa: E402

ROUTES = {
    "/start": '<Response><Gather numDigits="4" action="/menu"><Say>Please enter your four digit PIN.</Say></Gather></Response>',
    "/menu": ('<Response><Gather numDigits="1" timeout="5" action="/end"><Say>Press 1 for sales, 2 for support.</Say>'
              '</Gather><Pause length="49"/><Say>Goodbye.</Say></Response>'),
    "/end": "<Response><Say>Goodbye.</Say></Response>",
}
SCRIPT = "wait:listen dtmf:1234"


class TimedLine(SimLine):
    """Notes the wall time of the first audio frame after each response."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.response_at = None
        self.latencies = []

    async def write_frame(self, frame: bytes) -> None:
        if self.response_at is not None and any(frame):
            self.latencies.append(time.perf_counter() - self.response_at)
            self.response_at = None


class TimedFetcher:
    def __init__(self, inner, line):
        self.inner, self.line = inner, line

    async def fetch(self, req):
        resp = await self.inner.fetch(req)
        if req.kind == "twiml":
            self.line.response_at = time.perf_counter()
        return resp


async def one_call(config, tts, script=SCRIPT):
    line = TimedLine(script=script, tts=tts)
    call = Call(line, config, fetcher=TimedFetcher(build_fetcher(config), line), tts=tts)
    wall, cpu = time.perf_counter(), time.process_time()
    await call.run(await line.wait_for_call())
    return call.clock.t, time.perf_counter() - wall, time.process_time() - cpu, line


async def barge_in(config, tts, runs=20):
    """Tone onset to playback stop, on the virtual clock, at onsets spread
    across a frame: each key file starts with 0-19 ms of silence."""
    import tempfile
    import wave

    from firmware_app.listen.tones import dtmf_audio

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            offset = i % 20  # ms of silence before the tone, inside the first frame
            path = f"{tmp}/key{i}.wav"
            with wave.open(path, "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
                w.writeframes(bytes(16 * offset) + dtmf_audio("5").tobytes())
            line = SimLine(script=f"wait:prompt wait:0.5 wav:{path}", tts=tts)
            stops, starts = [], []

            def observe(ev, orig=line.observe):
                orig(ev)
                if ev["event"] == "interrupted":
                    stops.append(ev["t"])
                elif ev["event"] == "say" and not starts:
                    starts.append(ev["t"])

            line.observe = observe
            call = Call(line, config, fetcher=build_fetcher(config), tts=tts)
            await call.run(await line.wait_for_call())
            # the caller's wait:prompt ends on the frame the say starts; wait:0.5 is 25 frames
            onset = starts[0] + 0.5 + offset / 1000
            out.append(stops[0] - onset)
    return out


def main() -> None:
    with TwimlServer(ROUTES) as server:
        config = load(None)
        config["server"]["url"] = server.url("/start")
        tts = Synthesizer()

        async def run():
            cold = await one_call(config, tts)
            warm = [await one_call(config, tts) for _ in range(5)]
            return cold, warm, await barge_in(config, tts)

        cold, warm, barge = asyncio.run(run())
    call_s = cold[0]
    print(f"call length (virtual)               {call_s:8.2f} s")
    print(f"cold TTS: wall                      {cold[1]:8.3f} s   -> {call_s / cold[1]:7.0f}x real time")
    walls = [w[1] for w in warm]
    cpus = [w[2] for w in warm]
    print(f"warm TTS: wall (median of {len(warm)})        {statistics.median(walls):8.3f} s   -> "
          f"{call_s / statistics.median(walls):7.0f}x real time")
    print(f"warm TTS: CPU per 60 s of call      {statistics.median(cpus) * 60 / call_s:8.3f} s")
    lat_cold = cold[3].latencies
    lat_warm = [x for w in warm for x in w[3].latencies]
    print(f"response -> first audio frame, cold TTS  median {statistics.median(lat_cold) * 1000:6.1f} ms "
          f"max {max(lat_cold) * 1000:6.1f} ms  (n={len(lat_cold)})")
    print(f"response -> first audio frame, warm TTS  median {statistics.median(lat_warm) * 1000:6.1f} ms "
          f"max {max(lat_warm) * 1000:6.1f} ms  (n={len(lat_warm)})")
    print(f"barge-in: tone onset -> playback stop (virtual clock) min {min(barge) * 1000:.0f} ms "
          f"median {statistics.median(barge) * 1000:.0f} ms "
          f"max {max(barge) * 1000:.0f} ms  (n={len(barge)})")


if __name__ == "__main__":
    main()
