"""Offline-first calls through `ivrbox simulate` against real local servers that are
stopped, hung, slowed and broken: each fault gets a clear error event, the caller
gets a sane path, and no input is lost."""

import subprocess
import time

import pytest

from fault_server import Drop, FaultServer, Hung, Trickle
from simulate import IVRBOX, of, simulate

from firmware_app.web.outbox import Outbox

APOLOGY = "We are sorry, an application error has occurred. Goodbye."
MENU = ('<Response><Gather numDigits="1" action="/ivr/menu" timeout="3"><Say>Main menu</Say></Gather>'
        '<Say>Nothing pressed</Say></Response>')
CONNECT = 0.5


@pytest.fixture
def flows(tmp_path, monkeypatch):
    """A bundled flows folder mirroring the server's /ivr paths."""
    root = tmp_path / "flows"
    (root / "ivr" / "menu").mkdir(parents=True)
    (root / "ivr" / "menu.xml").write_text(MENU.replace("Main menu", "Offline menu"))
    (root / "ivr" / "menu" / "2.xml").write_text("<Response><Say>Offline option two</Say></Response>")
    (root / "offline.xml").write_text("<Response><Say>We are offline, please call back</Say></Response>")
    monkeypatch.setenv("IVRBOX_FLOWS", str(root))
    return root


@pytest.fixture
def conf(tmp_path, config_file):
    def write(flow: str = "", **server) -> str:
        return config_file(server={"connect_timeout": CONNECT, **server},
                           cache={"dir": str(tmp_path / "cache")}, outbox={"path": str(tmp_path / "outbox.sqlite")},
                           offline={"probe_interval": 0.2, "flow": flow})
    return write


def says(events):
    return [e["text"] for e in of(events, "say")]


def pending(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    try:
        return box.pending()
    finally:
        box.close()


def test_server_down_bundled_flow_by_path_and_digits_and_the_input_is_queued(live, flows, conf, tmp_path):
    live.stop()
    events = simulate(live.url("/ivr/menu"), "wait:listen dtmf:2", "--max-seconds", "20", config=conf())
    errors = of(events, "error")
    assert errors[0]["code"] == 11205 and "refused" in errors[0]["message"]
    assert "unreachable" in errors[1]["message"]  # the breaker: no second connect attempt
    assert says(events) == ["Offline menu", "Offline option two"]
    assert [e["source"] for e in of(events, "offline")] == ["bundled", "bundled"]
    assert all(e["wait"] < CONNECT for e in of(events, "offline"))
    queued = of(events, "queued")
    assert [q["input"]["Digits"] for q in queued] == ["2"]
    [item] = pending(tmp_path)
    assert item.id == queued[0]["id"] and item.params["Digits"] == "2" and item.params["CallSid"].startswith("CA")


def test_the_outbox_delivers_in_order_exactly_once_when_the_server_is_back(live, flows, conf, tmp_path):
    config = conf()
    live.routes["/ivr/menu"] = MENU
    live.stop()
    for key in "12":
        simulate(live.url("/ivr/menu"), f"wait:listen dtmf:{key}", "--max-seconds", "10", config=config)
    listed = subprocess.run([IVRBOX, "outbox", "--config", config], capture_output=True, text=True, check=True)
    assert "2 pending" in listed.stdout and "Digits=1" in listed.stdout
    live.start()
    flushed = subprocess.run([IVRBOX, "outbox", "flush", "--config", config], capture_output=True, text=True)
    assert flushed.returncode == 0 and "delivered 2" in flushed.stdout
    replays = [r for r in live.requests if r.params.get("Digits")]
    assert [r.params["Digits"] for r in replays] == ["1", "2"]
    assert all(r.headers["X-Ivrbox-Replay"].endswith("Z") for r in replays)
    assert len(set(live.tokens("/ivr/menu"))) == 2
    again = subprocess.run([IVRBOX, "outbox", "flush", "--config", config], capture_output=True, text=True)
    assert "delivered 0" in again.stdout and len(live.requests) == 2
    assert pending(tmp_path) == []
    history = subprocess.run([IVRBOX, "outbox", "--delivered", "5", "--config", config], capture_output=True, text=True)
    assert "0 pending" in history.stdout and history.stdout.count("(HTTP 200 at") == 2


def test_outbox_flush_with_the_server_still_down_says_so(live, flows, conf):
    config = conf()
    live.stop()
    simulate(live.url("/ivr/menu"), "wait:listen dtmf:3", "--max-seconds", "10", config=config)
    flushed = subprocess.run([IVRBOX, "outbox", "flush", "--config", config], capture_output=True, text=True)
    assert flushed.returncode == 1 and "delivered 0; 1 pending" in flushed.stdout
    assert "Digits=3" in flushed.stderr and "refused" in flushed.stderr


def test_a_cached_answer_is_served_when_the_server_goes_down(live, flows, conf):
    live.routes["/ivr/menu"] = lambda rec: ("<Response><Say>Server picked two</Say></Response>"
                                            if rec.params.get("Digits") == "2" else MENU)
    config = conf()
    online = simulate(live.url("/ivr/menu"), "wait:listen dtmf:2", "--max-seconds", "10", config=config)
    assert says(online) == ["Main menu", "Server picked two"]
    live.stop()
    offline = simulate(live.url("/ivr/menu"), "wait:listen dtmf:2", "--max-seconds", "10", config=config)
    assert says(offline) == ["Main menu", "Server picked two"]
    assert [e["source"] for e in of(offline, "offline")] == ["cache", "cache"]
    assert of(offline, "queued")[0]["input"]["Digits"] == "2"


def test_fallback_url_comes_first_and_the_offline_flow_last(live, flows, conf):
    with FaultServer({"/fallback": "<Response><Say>Fallback here</Say></Response>"}) as other:
        live.stop()
        events = simulate(live.url("/ivr/menu"), "", "--max-seconds", "10",
                          config=conf(fallback_url=other.url("/fallback")))
        assert says(events) == ["Fallback here"]
        assert other.requests[0].params["ErrorCode"] == "11205"
    events = simulate(live.url("/nowhere"), "", "--max-seconds", "10",
                      config=conf(flow="flows:/offline.xml"))
    assert says(events) == ["We are offline, please call back"]
    assert of(events, "offline")[0]["source"] == "offline_flow"


def test_with_nothing_else_the_caller_hears_an_apology(live, conf):
    live.stop()
    events = simulate(live.url("/nowhere"), "", config=conf())
    assert of(events, "error")[0]["code"] == 11205
    assert says(events) == [APOLOGY] and events[-1]["event"] == "hangup"


@pytest.mark.parametrize("server_kind", [Hung, Trickle])
def test_a_hung_or_trickling_server_costs_at_most_the_connect_timeout(server_kind, flows, conf):
    with server_kind() as slow:
        started = time.monotonic()
        events = simulate(slow.url("/ivr/menu"), "", "--max-seconds", "10", config=conf())
        took = time.monotonic() - started
    error = of(events, "error")[0]
    assert error["code"] == 11205 and f"{CONNECT:g} s" in error["message"]
    offline = of(events, "offline")[0]
    assert offline["source"] == "bundled" and CONNECT * 0.9 < offline["wait"] < CONNECT + 0.25
    assert says(events)[0] == "Offline menu"
    assert took < 8


def test_a_server_that_hangs_up_mid_exchange_gets_the_input_again_later(flows, conf, tmp_path):
    with Drop() as dying:
        events = simulate(dying.url("/ivr/menu"), "wait:listen dtmf:2", "--max-seconds", "10", config=conf())
        assert dying.received >= 1
    assert of(events, "error")[0]["code"] == 11206
    assert says(events) == ["Offline menu", "Offline option two"]
    assert [q["input"]["Digits"] for q in of(events, "queued")] == ["2"]
    assert [i.params["Digits"] for i in pending(tmp_path)] == ["2"]


@pytest.mark.parametrize("route, code, words", [
    ((404, {}, "gone"), 11200, "HTTP 404"),
    ((500, {}, "boom"), 11200, "HTTP 500"),
    ((302, {"Location": "/ivr/menu"}, ""), 11215, "redirects"),
    ("this is not XML", 12100, "parse"),
    ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response><Say>&x;</Say></Response>',
     12100, "refused"),
    ('<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
     "<Response><Say>&b;</Say></Response>", 12100, "refused"),
    (b"<Response>" + b" " * (10 * 1024 * 1024) + b"</Response>", 11750, "limit"),
])
def test_a_broken_answer_is_an_error_and_the_caller_goes_on(live, flows, conf, tmp_path, route, code, words):
    """The server answered, however badly: as Twilio, the apology (no fallback_url here),
    never the offline paths, and nothing is queued or resent."""
    live.routes["/ivr/menu"] = route
    events = simulate(live.url("/ivr/menu"), "wait:listen dtmf:2", "--max-seconds", "10",
                      config=conf(flow="flows:/offline.xml"))
    error = of(events, "error")[0]
    assert error["code"] == code and words in error["message"], error
    assert says(events) == [APOLOGY]
    assert [e["source"] for e in of(events, "offline")] == ["apology"]
    assert of(events, "queued") == [] and pending(tmp_path) == []


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_error_means_the_origin_is_down(live, flows, conf, tmp_path, status):
    live.routes["/ivr/menu"] = lambda rec: MENU if "Digits" not in rec.params else (status, {}, "gateway")
    events = simulate(live.url("/ivr/menu"), "wait:listen dtmf:2", "--max-seconds", "10", config=conf())
    assert of(events, "error")[0]["code"] == 11200 and f"HTTP {status}" in of(events, "error")[0]["message"]
    assert says(events) == ["Main menu", "Offline option two"]
    assert [q["input"] for q in of(events, "queued")] == [{"Digits": "2"}]
    assert [i.input for i in pending(tmp_path)] == [{"Digits": "2"}]


def test_an_audio_url_that_returns_html_is_refused_and_a_cached_copy_plays(live, conf, tmp_path):
    import wave

    wav = tmp_path / "a.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\1" * 4000)
    live.routes["/start"] = f'<Response><Play>{live.url("/a.wav")}</Play><Say>After the sound</Say></Response>'
    live.routes["/a.wav"] = (200, {"Content-Type": "audio/wav", "Cache-Control": "no-cache"}, wav.read_bytes())
    config = conf()
    first = simulate(live.url("/start"), "", config=config)
    assert of(first, "play")[0]["url"] == live.url("/a.wav") and not of(first, "error")
    live.routes["/a.wav"] = (200, {"Content-Type": "text/html"}, "<html><body>Login to the wifi</body></html>")
    second = simulate(live.url("/start"), "", config=config)
    error = of(second, "error")[0]
    assert error["code"] == 12300 and "text/html" in error["message"]
    assert of(second, "offline")[0]["source"] == "cache" and of(second, "play")[0]["url"] == live.url("/a.wav")
    live.routes["/start"] = f'<Response><Play>{live.url("/b.wav")}</Play><Say>After the sound</Say></Response>'
    live.routes["/b.wav"] = (200, {"Content-Type": "text/html"}, "<html></html>")
    third = simulate(live.url("/start"), "", config=config)
    assert of(third, "error")[0]["code"] == 12300 and not of(third, "play")
    assert says(third) == ["After the sound"]


def test_a_full_disk_is_reported_and_the_call_goes_on(live, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    live.routes["/start"] = lambda rec: (f"<Response><Say>Version {time.time()}</Say>"
                                         '<Gather numDigits="1" action="/act"/></Response>')
    live.routes["/act"] = (503, {}, "")
    config = tmp_path / "full.toml"
    config.write_text(f'[server]\nconnect_timeout = {CONNECT}\n[cache]\ndir = "{disk}/cache"\n'
                      f'[outbox]\npath = "{disk}/outbox.sqlite"\n')
    script = (f"mount -t tmpfs -o size=512k tmpfs {disk} && "
              f"{IVRBOX} simulate {live.url('/start')} --config {config} --max-seconds 5 > {tmp_path}/first.json && "
              f"rm {disk}/outbox.sqlite* && (dd if=/dev/zero of={disk}/fill bs=4k 2>/dev/null; true) && "
              f"{IVRBOX} simulate {live.url('/start')} --config {config} --max-seconds 10 --caller 'wait:listen dtmf:7'")
    proc = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    import json

    events = [json.loads(line) for line in proc.stdout.splitlines()]
    messages = [e["message"] for e in of(events, "error") + of(events, "warning")]
    assert any("outbox" in m and ("full" in m or "space" in m or "unable to open" in m) for m in messages), messages
    assert any("cache" in m for m in messages), messages
    kept = [e for e in of(events, "error") if e.get("input") == {"Digits": "7"}]
    assert kept and "in memory" in kept[0]["message"]
    assert says(events)[0].startswith("Version") and says(events)[-1] == APOLOGY


def test_new_input_waits_behind_older_input_the_server_has_not_had_yet(live, flows, conf):
    """The server is back but slow to take the backlog: a new action queues behind
    it rather than overtaking it, and everything arrives in the order callers pressed."""
    config = conf()
    live.routes["/ivr/menu"] = MENU
    live.stop()
    for key in "123":
        simulate(live.url("/ivr/menu"), f"wait:listen dtmf:{key}", "--max-seconds", "10", config=config)

    def slow_replays(rec):
        if "X-Ivrbox-Replay" in rec.headers:
            time.sleep(0.4)  # more than the half connect timeout a caller waits for the backlog
        return MENU

    live.routes["/ivr/menu"] = slow_replays
    live.start()
    events = simulate(live.url("/ivr/menu"), "wait:listen dtmf:9", "--max-seconds", "10", config=config)
    assert "waits its turn" in " ".join(e["message"] for e in of(events, "error"))
    assert [q["input"]["Digits"] for q in of(events, "queued")] == ["9"]
    subprocess.run([IVRBOX, "outbox", "flush", "--config", config], capture_output=True, text=True, check=True)
    first_seen = {}
    for rec in live.requests:
        if rec.params.get("Digits"):
            first_seen.setdefault(rec.headers["I-Twilio-Idempotency-Token"], rec.params["Digits"])
    assert list(first_seen.values()) == ["1", "2", "3", "9"]


def test_a_read_only_disk_the_calls_go_on_input_is_held_and_logged_and_the_outbox_still_lists(live, tmp_path):
    import json

    disk = tmp_path / "disk"
    disk.mkdir()
    live.routes["/start"] = (f"<Response><Say>Hello</Say><Play>{live.url('/a.wav')}</Play>"
                             '<Gather numDigits="1" action="/act"/></Response>')
    live.routes["/a.wav"] = (404, {}, "")
    live.routes["/act"] = (503, {}, "")
    config = tmp_path / "ro.toml"
    config.write_text(f'[server]\nconnect_timeout = {CONNECT}\n[cache]\ndir = "{disk}/cache"\n'
                      f'[outbox]\npath = "{disk}/outbox.sqlite"\n')
    sim = f"{IVRBOX} simulate {live.url('/start')} --config {config} --max-seconds 10"
    script = (f"mount -t tmpfs -o size=4m tmpfs {disk} && {sim} --caller 'wait:listen dtmf:1' > /dev/null && "
              f"mount -o remount,ro {disk} && {IVRBOX} outbox list --config {config} > {tmp_path}/list.txt && "
              f"{sim} --caller 'wait:listen dtmf:7' 2> {tmp_path}/log.txt")
    proc = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed = (tmp_path / "list.txt").read_text()
    assert "1 pending" in listed and "(read-only)" in listed and "Digits=1" in listed
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert says(events)[0] == "Hello" and events[-1]["event"] == "hangup"
    cache_warnings = [e for e in of(events, "warning") if "cache" in e["message"]]
    assert len(cache_warnings) == 1, of(events, "warning")
    [held] = [e for e in of(events, "error") if e.get("input") == {"Digits": "7"}]
    assert "in memory" in held["message"] and held["params"]["CallSid"].startswith("CA")
    log = (tmp_path / "log.txt").read_text()
    assert "holding in memory" in log and '"Digits": "7"' in log and held["params"]["CallSid"] in log
