"""MQTT: what the publisher sustains, and what MQTT adds to the daemon.

1. Events per second: the box's Publisher drains a backlog of events (QoS 1,
   each removed only once acknowledged) to a local Mosquitto; the peer is a
   bare aiomqtt client publishing the same messages at QoS 1 in one burst. Also the
   cost of ``event()`` itself, which is all a call ever pays.
2. Added RSS: ``ivrbox run`` answers 100 simulated calls of the bundled demo
   flow with MQTT off, then on (to the same Mosquitto); peak RSS and CPU
   (utime+stime) of the whole process come from wait4().

    python -m bench mqtt
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

EVENTS = 10000
CALLS = 100
SCRIPT = "wait:prompt dtmf:2 wait:prompt dtmf:1234# wait:prompt dtmf:0"


def start_mosquitto(folder: Path, extra: str = "") -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\nlog_dest none\n{extra}")
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


async def publisher_rate(port: int) -> tuple[float, float]:
    """(events per second drained, microseconds per event() call)."""
    from firmware_app.mqtt.publisher import Publisher
    from firmware_app.mqtt.settings import Broker, Topics

    publisher = Publisher(Broker("127.0.0.1", port, False), Topics("bench", "box"), buffer=EVENTS)
    runner = asyncio.create_task(publisher.run())
    while not publisher.connected:
        await asyncio.sleep(0.01)
    payload = '{"call": "CA0123456789abcdef0123456789abcdef", "line": 1, "t": 12.34, "digits": "1234"}'
    start = time.perf_counter()
    for n in range(EVENTS):
        publisher.event(f"bench/box/line/1/call/gather", payload)
    put = time.perf_counter() - start
    while publisher.published < EVENTS:
        await asyncio.sleep(0.001)
    drained = time.perf_counter() - start
    await publisher.close(runner)
    return EVENTS / drained, put / EVENTS * 1e6


async def raw_rate(port: int) -> float:
    import aiomqtt

    from firmware_app.mqtt.publisher import BATCH

    payload = '{"call": "CA0123456789abcdef0123456789abcdef", "line": 1, "t": 12.34, "digits": "1234"}'
    async with aiomqtt.Client("127.0.0.1", port, max_inflight_messages=BATCH) as client:
        client.pending_calls_threshold = 2 * BATCH
        start = time.perf_counter()
        for _ in range(0, EVENTS, BATCH):
            await asyncio.gather(*(client.publish("bench/raw", payload, qos=1) for _ in range(BATCH)))
        return EVENTS // BATCH * BATCH / (time.perf_counter() - start)


def daemon_run(folder: Path, mqtt_url: str) -> tuple[int, float, float]:
    """(peak RSS in KiB, CPU seconds, wall seconds) of `ivrbox run` over CALLS simulated calls."""
    config = folder / f"box-{'on' if mqtt_url else 'off'}.toml"
    config.write_text(f'[outbox]\npath = "{folder / "outbox.sqlite"}"\n[cache]\ndir = "{folder / "cache"}"\n'
                      f'[mqtt]\nurl = "{mqtt_url}"\nbox_id = "bench"\n')
    ivrbox = str(Path(sys.executable).with_name("ivrbox"))
    start = time.perf_counter()
    proc = subprocess.Popen([ivrbox, "run", "--config", str(config), "--calls", str(CALLS),
                             "--line", f"sim:?script={quote(SCRIPT)}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"ivrbox run exited {proc.returncode}")
    return usage.ru_maxrss, usage.ru_utime + usage.ru_stime, time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"events/s to a local mosquitto, QoS 1, {EVENTS} events:")
        for setting in ("", "set_tcp_nodelay true"):
            broker, port = start_mosquitto(folder, setting + "\n")
            try:
                rate, put_us = asyncio.run(publisher_rate(port))
                raw = asyncio.run(raw_rate(port))
                if not setting:
                    off = daemon_run(folder, "")
                    on = daemon_run(folder, f"mqtt://127.0.0.1:{port}")
            finally:
                broker.terminate()
                broker.wait(10)
            print(f"  broker {setting or 'as Debian ships it'}:")
            print(f"    box publisher   {rate:8.0f}/s   ({rate / raw:.2f}x the bare client)")
            print(f"    bare aiomqtt    {raw:8.0f}/s")
            print(f"    event() costs a call {put_us:.2f} µs")
    print(f"ivrbox run, {CALLS} simulated calls of the demo flow:")
    print(f"  MQTT off  peak RSS {off[0] / 1024:7.1f} MiB   CPU {off[1]:6.2f} s   wall {off[2]:6.2f} s")
    print(f"  MQTT on   peak RSS {on[0] / 1024:7.1f} MiB   CPU {on[1]:6.2f} s   wall {on[2]:6.2f} s")
    print(f"  added by MQTT: {(on[0] - off[0]) / 1024:+.1f} MiB RSS ({on[0] / off[0] - 1:+.1%}), "
          f"CPU {on[1] / off[1]:.2f}x")


if __name__ == "__main__":
    main()
