"""Broker faults against a real Mosquitto: the last will on kill -9, a broker
restart mid-call losing nothing, and a broker that is down or silent never
changing a call."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading

from drivers.sim import SimLine
from firmware_app.listen.tones import dtmf_audio
from mqtt_broker import Mosquitto, Subscriber, free_port
from simulate import IVRBOX, of
from test_mqtt import BASE, MENU, Daemon, box_config
from bench.twiml_server import TwimlServer


def test_the_last_will_says_offline_when_the_box_is_killed(tmp_path):
    with Mosquitto(tmp_path) as broker, Subscriber(broker.port, f"{BASE}/#") as seen:
        config = tmp_path / "c.toml"
        config.write_text(f'[line]\nurl = "modem:///dev/ivrbox-no-such-modem"\n'
                          f'[mqtt]\nurl = "{broker.url}"\nbox_id = "testbox"\n')
        proc = subprocess.Popen([IVRBOX, "run", "--config", str(config)], stderr=subprocess.PIPE, text=True)
        try:
            seen.wait_for(lambda msgs: seen.of(f"{BASE}/status") == ["online"])
            seen.wait_for(lambda msgs: "reopening" in seen.of(f"{BASE}/line/1/state"))
            seen.wait_for(lambda msgs: "ivrbox-no-such-modem" in seen.of(f"{BASE}/line/1/error")[-1])
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            seen.wait_for(lambda msgs: seen.of(f"{BASE}/status") == ["online", "offline"])
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate(timeout=10)
        assert "Traceback" not in err
        with Subscriber(broker.port, f"{BASE}/status") as late:  # retained for whoever looks later
            late.wait_for(lambda msgs: late.of(f"{BASE}/status") == ["offline"])


def test_a_broker_restart_mid_call_loses_no_event(tmp_path):
    """The broker is stopped after the call's first gather reached the
    subscriber; the rest of the call happens while it is down; once it is back
    the box delivers every event it kept, in order, exactly once."""
    release, done = threading.Event(), threading.Event()
    starts = []

    def start(request):
        starts.append(request)
        if len(starts) > 1:  # the next call waits here until the test is done
            done.wait(15)
        return MENU["/start"].replace("/next", "/second")

    def second(request):
        release.wait(15)
        return MENU["/start"].replace("/next", "/last")

    routes = {"/start": start, "/second": second, "/last": MENU["/next"]}
    broker = Mosquitto(tmp_path, persistence=True).start()
    try:
        with TwimlServer(routes) as server, Subscriber(broker.port, f"{BASE}/line/1/call/#", session="watcher") as seen:
            line = SimLine(script="wait:listen dtmf:1 wait:listen dtmf:2", caller="+15557777", tones=dtmf_audio)
            daemon = Daemon(box_config(server.url("/start"), broker), calls=2, line=line).start()
            seen.wait_for(lambda msgs: seen.of(f"{BASE}/line/1/call/gather"))
            broker.stop()
            release_after_stop = threading.Timer(0.3, release.set)
            release_after_stop.start()
            first = lambda events: [e for e in events if e.get("event") == "hangup"]  # noqa: E731
            _wait(lambda: first(daemon.events) and len(starts) == 2)
            broker.start()
            seen.wait_for(lambda msgs: len(seen.of(f"{BASE}/line/1/call/ended")) >= 1, 30)
            seen.wait_for(lambda msgs: len(seen.of(f"{BASE}/line/1/call/started")) >= 2, 30)
            done.set()
            daemon.join()
    finally:
        broker.stop()
    calls = [(m.topic.rsplit("/", 1)[1], json.loads(m.payload)) for m in seen.messages]
    sid = of(daemon.events, "request")[0]["params"]["CallSid"]
    mine = [(what, body) for what, body in calls if body["call"] == sid]
    assert [what for what, _ in mine] == ["started", "gather", "gather", "ended"]
    assert [body["digits"] for what, body in mine if what == "gather"] == ["1", "2"]
    assert mine[-1][1]["duration"] == first(daemon.events)[0]["t"]


def _wait(predicate, timeout: float = 30.0) -> None:
    import time

    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def _call_events(config: dict) -> list[tuple]:
    line = SimLine(script="wait:prompt dtmf:5", caller="+15551234", tones=dtmf_audio)
    daemon = Daemon(config, calls=1, line=line).start()
    daemon.join(60)
    assert daemon.result.get("calls") == 1
    return [(e["t"], e["event"], e.get("digits"), e.get("text"), e.get("by")) for e in daemon.events]


def test_a_down_or_silent_broker_never_changes_a_call(tmp_path, caplog):
    """The same call with MQTT off, with a broker URL nothing listens on, and
    with a broker that accepts the connection and never answers: its events
    and their call times are the same."""
    with TwimlServer(dict(MENU)) as server, socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the TCP handshake; no CONNACK ever comes
        down, mute = Mosquitto(tmp_path), Mosquitto(tmp_path)  # configs only: neither is started
        mute.port = silent.getsockname()[1]
        down.port = free_port()
        without = _call_events(box_config(server.url("/start"), None))
        with_down = _call_events(box_config(server.url("/start"), down))
        with_silent = _call_events(box_config(server.url("/start"), mute))
        silent.setblocking(False)
        silent.accept()[0].close()  # the box did connect, and waited in vain for the broker's answer
    assert [e[1] for e in without][-1] == "hangup" and any(e[2] == "5" for e in without)
    assert with_down == without
    assert f"MQTT broker mqtt://127.0.0.1:{down.port} unavailable (MqttError: [Errno 111]" in caplog.text
    assert with_silent == without


def test_a_broker_that_lost_its_retained_states_gets_them_again(tmp_path):
    """A broker restarted without persistence has forgotten every retained
    message; the box sends all its states again when it reconnects."""
    import asyncio

    from firmware_app.mqtt import build

    broker = Mosquitto(tmp_path).start()

    async def box() -> None:
        reporter = build(box_config("flows:/demo/index.xml", broker), lines=1)
        reporter.start()
        reporter.line_state(1, "reopening", error="modem unplugged")
        with Subscriber(broker.port, f"{BASE}/line/1/error") as seen:
            error = f"{BASE}/line/1/error"
            await asyncio.to_thread(seen.wait_for, lambda msgs: seen.of(error)[-1:] == ["modem unplugged"])
        broker.stop()
        broker.start()
        with Subscriber(broker.port, f"{BASE}/#") as late:
            await asyncio.to_thread(late.wait_for, lambda msgs: {m.topic for m in msgs} >= {
                f"{BASE}/status", f"{BASE}/line/1/state", f"{BASE}/line/1/error", f"{BASE}/calls_today"}, 30)
        await reporter.close()
        assert late.of(f"{BASE}/line/1/state")[-1] == "reopening"
        assert late.of(f"{BASE}/line/1/error")[-1] == "modem unplugged"
        assert late.of(f"{BASE}/status")[0] == "online"

    try:
        asyncio.run(box())
    finally:
        broker.stop()
