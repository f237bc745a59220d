"""The web console: page latency while 4 calls run, and what the console adds to the daemon's RSS.

The daemon is `ivrbox run`'s own serve() with four simulated lines paced
in real time (a frame every 20 ms, as hardware delivers them), each
running the bundled demo flow call after call, so four calls are always
in progress. The bench process fetches the console's pages over HTTP
while they run; the peer is a static file (console.css) from the same
server at the same moment, aiohttp's floor. Then the same daemon runs the
same calls for the same time with the console off, and wait4() gives
each run's peak RSS and CPU (utime+stime of the whole process).

    python -m bench console
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

LINES = 4
SECONDS = 40.0
WARMUP = 5.0
ROUNDS = 40
SCRIPT = "wait:prompt dtmf:2 wait:prompt dtmf:1234# wait:prompt dtmf:0"
PAGES = ["/static/console.css", "/", "/calls", "/outbox", "/cache", "/config", "/voicemail",
         "/api/dashboard", "/api/calls"]


def daemon(config_path: str, seconds: float) -> None:
    """The daemon under test (run in its own process): serve() with real-time simulated lines."""
    import asyncio
    import logging

    from firmware_app.commands import run
    from firmware_app.config import load

    plain = run.open_url

    def paced(url: str, tts):
        line = plain(url, tts)
        if not url.startswith("sim:"):
            return line

        class Paced(type(line)):
            realtime = True

            async def read_frame(self):
                self._next = getattr(self, "_next", time.perf_counter()) + 0.02
                await asyncio.sleep(max(0.0, self._next - time.perf_counter()))
                return await super().read_frame()

        line.__class__ = Paced
        return line

    run.open_url = paced
    logging.basicConfig(level=logging.WARNING)

    async def main():
        try:
            await asyncio.wait_for(run.serve(load(config_path)), seconds)
        except asyncio.TimeoutError:
            pass

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> tuple[float, bytes]:
    """(seconds, body) of one GET on a fresh connection, as a browser's first visit."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {resp.status}")
    finally:
        conn.close()
    return time.perf_counter() - start, body


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_daemon(folder: Path, console: bool) -> tuple[int, float, dict[str, list[float]], list[int]]:
    """(peak RSS KiB, CPU seconds, latencies per page, calls in progress at each round) of one SECONDS run."""
    port = free_port()
    url = f"sim:?script={quote(SCRIPT)}&max_seconds=100000"
    config = folder / f"console-{'on' if console else 'off'}.toml"
    config.write_text(f'[line]\nurl = [{", ".join(f"{url!r}" for _ in range(LINES))}]\n'.replace("'", '"')
                      + f'[outbox]\npath = "{folder / "outbox.sqlite"}"\n[cache]\ndir = "{folder / "cache"}"\n'
                      f'[console]\nlisten = "{f"127.0.0.1:{port}" if console else ""}"\n'
                      f'db = "{folder / "console.sqlite"}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "bench.console_bench", "--daemon", str(config), str(SECONDS)],
                            cwd=Path(__file__).parents[1], env={**os.environ, "XDG_STATE_HOME": str(folder)})
    latencies: dict[str, list[float]] = {page: [] for page in PAGES}
    in_progress: list[int] = []
    if console:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(port, "/static/console.css")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        time.sleep(WARMUP)
        for _ in range(ROUNDS):
            for page in PAGES:
                seconds, body = get(port, page)
                latencies[page].append(seconds)
                if page == "/api/dashboard":
                    in_progress.append(len(json.loads(body)["calls"]))
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the daemon exited {os.waitstatus_to_exitcode(status)}")
    return usage.ru_maxrss, usage.ru_utime + usage.ru_stime, latencies, in_progress


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        on_rss, on_cpu, latencies, in_progress = run_daemon(folder, console=True)
        off_rss, off_cpu, _, _ = run_daemon(folder, console=False)
    floor = percentile(latencies["/static/console.css"], 0.5)
    print(f"console page latency while {LINES} real-time simulated calls run ({ROUNDS} requests per page; "
          f"calls in progress seen by /api/dashboard: {min(in_progress)} to {max(in_progress)})")
    print(f"  {'page':22} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs static':>14}")
    every = []
    for page, values in latencies.items():
        every += values if page != "/static/console.css" else []
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(f"  {page:22} {p50 * 1000:8.2f} {p99 * 1000:8.2f} {p50 / floor:13.1f}x")
    print(f"  {'all pages':22} {percentile(every, 0.5) * 1000:8.2f} {percentile(every, 0.99) * 1000:8.2f}")
    print(f"ivrbox serve(), {LINES} lines, {SECONDS:.0f} s of real-time calls:")
    print(f"  console off  peak RSS {off_rss / 1024:7.1f} MiB   CPU {off_cpu:6.2f} s")
    print(f"  console on   peak RSS {on_rss / 1024:7.1f} MiB   CPU {on_cpu:6.2f} s  (serving {ROUNDS * len(PAGES)} pages)")
    print(f"  added by the console: {(on_rss - off_rss) / 1024:+.1f} MiB RSS ({on_rss / off_rss - 1:+.1%})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--daemon"]:
        daemon(sys.argv[2], float(sys.argv[3]))
    else:
        main()
