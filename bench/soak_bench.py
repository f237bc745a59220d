"""Soak: thousands of back-to-back simulated calls through the daemon's loop.

``serve()``, the loop ``ivrbox run`` runs, answers a simulated line that
rings again as soon as a call ends. Between calls, where the daemon idles,
the line samples the process: RSS (VmRSS), open fds (/proc/self/fd) and
threads (the kernel's count, so native threads show too). The figures
compare the end of the soak with the state after a warm-up that fills the
caches (the TTS phrase cache holds 128 phrases).

Two flows: the bundled demo (menu, Gather with finishOnKey, Redirect,
Hangup) and a TwiML server on localhost, in its own process so that its
threads and sockets are not counted, whose answer names the caller's digits,
so every call synthesises a new phrase.

    python -m bench soak            # 3000 + 1000 calls
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from drivers.line import HungUp
from drivers.sim import SimLine, parse_script
from firmware_app.commands.run import serve
from firmware_app.config import load
from firmware_app.listen.tones import dtmf_audio

DEMO_SCRIPT = "wait:prompt dtmf:2 wait:prompt dtmf:1234# wait:prompt dtmf:0"

SERVER = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qsl

    ROUTES = {
        "/ivr": '<Response><Gather numDigits="4" action="/code" timeout="3">'
                '<Say>Enter your four digit code.</Say></Gather><Say>No code.</Say></Response>',
        "/code": '<Response><Say>Code {Digits} accepted. Goodbye.</Say><Hangup/></Response>',
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            params = dict(parse_qsl(body))
            page = ROUTES.get(self.path.split("?")[0])
            data = (page or "not found").replace("{Digits}", " ".join(params.get("Digits", ""))).encode()
            self.send_response(200 if page else 404)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


@dataclass
class Sample:
    calls: int
    rss_kb: int
    fds: int
    threads: int
    objects: int


def sample(calls: int) -> Sample:
    gc.collect()
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    fds = len(os.listdir("/proc/self/fd")) - 1  # less the one listdir itself opened
    return Sample(calls, int(status["VmRSS"].split()[0]), fds, int(status["Threads"]), len(gc.get_objects()))


class SoakLine(SimLine):
    """A simulated line that rings again as soon as a call ends, ``total`` times.

    It samples the process every ``every`` calls, between calls, and hangs up
    the line for good after the last one. ``script(n)`` gives call n's caller.
    """

    def __init__(self, total: int, every: int, script):
        super().__init__(max_seconds=1e9, tones=dtmf_audio)
        self.total, self.every, self.script = total, every, script
        self.rung = 0
        self.samples: list[Sample] = []

    async def wait_for_call(self):
        if self.rung % self.every == 0 or self.rung == self.total:
            self.samples.append(sample(self.rung))
        if self.rung == self.total:
            raise HungUp("soak done")
        self.steps = parse_script(self.script(self.rung))
        self.rung += 1
        return await super().wait_for_call()


@dataclass
class Soak:
    calls: int
    seconds: float
    samples: list[Sample]
    events: dict[str, int]

    def at(self, calls: int) -> Sample:
        return next(s for s in self.samples if s.calls == calls)


def soak(url: str, total: int, every: int, script, workdir: Path) -> Soak:
    """Run ``total`` calls to ``url`` through serve(); count events by name."""
    config = load(None)
    config["server"]["url"] = url
    config["cache"]["dir"] = str(workdir / "cache")
    config["outbox"]["path"] = str(workdir / "outbox.sqlite")
    events: dict[str, int] = {}

    def count(record: dict) -> None:
        events[record["event"]] = events.get(record["event"], 0) + 1

    # The daemon logs one line per call event; format them as it would, into
    # /dev/null, and keep them from handlers (pytest's) that hold every record.
    log = logging.getLogger("ivrbox")
    devnull = open(os.devnull, "w")
    handler = logging.StreamHandler(devnull)
    level, propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    line = SoakLine(total, every, script)
    try:
        start = time.perf_counter()
        taken = asyncio.run(serve(config, 0, line=line, sinks=[count]))
        seconds = time.perf_counter() - start
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate
        devnull.close()
    assert taken == total, f"serve() took {taken} calls, expected {total}"
    return Soak(taken, seconds, line.samples, events)


class TwimlProcess:
    """The localhost TwiML server above, in a child process."""

    def __enter__(self) -> str:
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
        port = int(self.proc.stdout.readline())
        return f"http://127.0.0.1:{port}/ivr"

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def demo_script(n: int) -> str:
    return DEMO_SCRIPT


def code_script(n: int) -> str:
    return f"wait:prompt dtmf:{n % 10000:04d}"


def report(name: str, run: Soak, warmup: int) -> None:
    before, after = run.at(warmup), run.samples[-1]
    per_1000 = (after.rss_kb - before.rss_kb) / (after.calls - before.calls) * 1000
    print(f"{name}: {run.calls} calls in {run.seconds:.1f} s ({run.seconds / run.calls * 1000:.1f} ms a call), "
          f"events {dict(sorted(run.events.items()))}")
    print(f"  {'after calls':>12} {'RSS kB':>9} {'fds':>5} {'threads':>8} {'objects':>8}")
    for s in (run.samples[0], before, after):
        print(f"  {s.calls:>12} {s.rss_kb:>9} {s.fds:>5} {s.threads:>8} {s.objects:>8}")
    print(f"  RSS after/before warm-up state: {after.rss_kb / before.rss_kb:.4f} "
          f"({per_1000:+.0f} kB per 1000 calls); fds {after.fds - before.fds:+d}; threads {after.threads - before.threads:+d}")


def main() -> None:
    demo_calls, http_calls, warmup = 3000, 1000, 200
    with tempfile.TemporaryDirectory() as tmp:
        run = soak("flows:/demo/index.xml", warmup + demo_calls, 100, demo_script, Path(tmp) / "demo")
        report("bundled demo flow", run, warmup)
        with TwimlProcess() as url:
            run = soak(url, warmup + http_calls, 100, code_script, Path(tmp) / "http")
        report("localhost TwiML server, a new phrase every call", run, warmup)


if __name__ == "__main__":
    main()
