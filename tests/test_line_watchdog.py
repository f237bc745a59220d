"""The sound line takes call after call, and the watchdog notices a line that
stops: real PyAudio on PulseAudio null sinks (bench/pulse.py), `ivrbox run`'s serve
loop, a real TwiML server and the sd_notify protocol on a real AF_UNIX socket."""

import asyncio
import socket
import subprocess
import threading
import time

from bench.twiml_server import TwimlServer
from firmware_app.commands.run import serve
from firmware_app.config import load
from bench.pulse import Caller, fake_card, unique


def test_three_hundred_back_to_back_calls_on_the_sound_line_are_each_answered_and_ended():
    """Each call answers, pumps a few frames and is hung up by the box; the next
    one starts at once. A pump that swallowed its cancel kept the line forever."""
    routes = {"/start": '<Response><Pause length="0.1"/><Hangup/></Response>'}
    events = []
    with TwimlServer(routes) as server, fake_card(unique("ivrtest_calls")) as card:
        caller = Caller(card)
        config = load(None)
        config["server"]["url"] = server.url("/start")
        config["line"]["url"] = f"sound://{card.name}"
        try:
            taken = asyncio.run(asyncio.wait_for(serve(config, calls=300, sinks=[events.append]), 280))
        finally:
            caller.stop()
    hangups = [e for e in events if e["event"] == "hangup"]
    pauses = [e for e in events if e["event"] == "pause"]
    assert taken == 300 and len(server.requests) == 300
    assert len(pauses) == 300 and len(hangups) == 300  # answered (the pause runs on the pump), and ended
    assert all(e["by"] == "box" and 0.1 <= e["t"] < 1.0 for e in hangups), hangups[:3]


def test_the_watchdog_stops_while_a_calls_frames_stop_and_comes_back_with_them(tmp_path, monkeypatch):
    """The card's capture side stops delivering (its PulseAudio source suspended)
    while the line's stall allows a minute: the event loop is fine, but the
    line is stuck, so WATCHDOG=1 must stop; when frames flow again, so do pings."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.1)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    pings: list[float] = []

    def listen(until):
        while time.monotonic() < until:
            try:
                if sock.recv(4096) == b"WATCHDOG=1":
                    pings.append(time.monotonic())
            except TimeoutError:
                pass

    routes = {"/start": '<Response><Gather timeout="6"></Gather><Hangup/></Response>'}
    with TwimlServer(routes) as server, fake_card(unique("ivrtest_wedge")) as card:
        caller = Caller(card)
        config = load(None)
        config["server"]["url"] = server.url("/start")
        config["line"]["url"] = f"sound://{card.name}?stall=60"
        result = {}
        daemon = threading.Thread(target=lambda: result.setdefault("calls", asyncio.run(serve(config, calls=1))))
        daemon.start()
        try:
            listen(time.monotonic() + 2.0)
            assert server.requests, "the call never started"
            wedged = time.monotonic()
            subprocess.run(["pactl", "suspend-sink", f"{card.name}_mic", "1"], check=True)
            listen(wedged + 5.0)
            subprocess.run(["pactl", "suspend-sink", f"{card.name}_mic", "0"], check=True)
            resumed = time.monotonic()
            daemon.join(20)
            listen(time.monotonic() + 0.1)
        finally:
            subprocess.run(["pactl", "suspend-sink", f"{card.name}_mic", "0"])
            caller.stop()
            sock.close()
    assert not daemon.is_alive() and result["calls"] == 1
    before = [t for t in pings if t < wedged]
    during = [t - wedged for t in pings if wedged <= t < resumed]
    after = [t for t in pings if t >= resumed]
    assert len(before) >= 3, pings  # a healthy call pings every half second
    assert during and max(during) < 3.0, during  # at most the patience (2 s) and a ping's gap
    assert not [t for t in during if t >= 3.0]  # silent for the rest of the wedge
    assert after, "pings did not come back with the frames"
