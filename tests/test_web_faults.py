"""The faults that used to poison the offline stack, each through `ivrbox simulate` or the
real outbox commands against real local servers: a dead server's input never blocks a live
one, two flushers deliver once, dead letters, the breaker's probe, <Play> failures, private
cached answers, bundled audio, and fresh simulator state."""

import asyncio
import json
import os
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from fault_server import FaultServer
from simulate import IVRBOX, of, simulate

from firmware_app.web.client import HttpClient, Request
from firmware_app.web.offline import OfflineFetcher
from firmware_app.web.outbox import TOKEN_HEADER, Outbox

MENU = ('<Response><Gather numDigits="1" action="/ivr/act" timeout="3"><Say>Main menu</Say></Gather>'
        '<Say>Nothing pressed</Say></Response>')
THANKS = "<Response><Say>Thanks</Say></Response>"
ROOT = Path(__file__).resolve().parents[1]


def says(events):
    return [e["text"] for e in of(events, "say")]


def ivrbox(*args, check=False):
    return subprocess.run([IVRBOX, *args], capture_output=True, text=True, timeout=120, check=check)


@pytest.fixture(autouse=True)
def flows(tmp_path, monkeypatch):
    """Bundled flows for the /ivr paths, so a call to a dead server still reaches its gather."""
    root = tmp_path / "bundled"
    (root / "ivr").mkdir(parents=True)
    (root / "ivr.xml").write_text(MENU.replace("Main menu", "Offline menu"))
    (root / "ivr" / "act.xml").write_text(THANKS)
    monkeypatch.setenv("IVRBOX_FLOWS", str(root))


@pytest.fixture
def state(tmp_path, config_file):
    def write(**sections):
        return config_file(server={"connect_timeout": 0.5, **sections.pop("server", {})},
                           outbox={"path": str(tmp_path / "outbox.sqlite"), **sections.pop("outbox", {})},
                           cache={"dir": str(tmp_path / "cache")}, offline={"probe_interval": 0.2}, **sections)
    return write


def queue_for_dead_server(config, n=1):
    """Real input queued by real calls against a server that then stays dead."""
    with FaultServer({"/ivr": MENU}) as dead:
        dead.stop()
        for i in range(n):
            events = simulate(dead.url("/ivr"), f"wait:listen dtmf:{i % 10}", "--max-seconds", "10", config=config)
            assert of(events, "queued"), events
        return dead.url("/ivr/act")


def test_a_dead_servers_input_never_blocks_a_live_one(live, state, tmp_path):
    config = state()
    queue_for_dead_server(config, 3)
    live.routes.update({"/ivr": MENU, "/ivr/act": THANKS})
    for key in "123":
        events = simulate(live.url("/ivr"), f"wait:listen dtmf:{key}", "--max-seconds", "10", config=config)
        assert says(events) == ["Main menu", "Thanks"], events
        assert not of(events, "queued") and not of(events, "error") and not of(events, "offline")
    assert [r.params["Digits"] for r in live.requests if "Digits" in r.params] == ["1", "2", "3"]
    box = Outbox(tmp_path / "outbox.sqlite")
    assert [i.input["Digits"] for i in box.pending()] == ["0", "1", "2"]  # kept, not lost, not blocking


def test_changing_the_server_url_strands_nothing(live, state, tmp_path):
    """Input for the old server stays listed and is delivered when that server returns."""
    config = state()
    with FaultServer({"/ivr": MENU, "/ivr/act": THANKS}) as old:
        old.stop()
        simulate(old.url("/ivr"), "wait:listen dtmf:7", "--max-seconds", "10", config=config)
        live.routes.update({"/ivr": MENU, "/ivr/act": THANKS})
        events = simulate(live.url("/ivr"), "wait:listen dtmf:8", "--max-seconds", "10", config=config)
        assert says(events) == ["Main menu", "Thanks"] and not of(events, "queued")
        old.start()
        flushed = ivrbox("outbox", "flush", "--config", config)
        assert flushed.returncode == 0 and "delivered 1; 0 pending" in flushed.stdout
        assert [r.params["Digits"] for r in old.requests if "Digits" in r.params] == ["7"]


def test_when_the_origin_returns_its_backlog_goes_first_then_the_live_request(live, state):
    config = state()
    live.routes.update({"/ivr": MENU, "/ivr/act": THANKS})
    live.stop()
    for key in "12":
        simulate(live.url("/ivr"), f"wait:listen dtmf:{key}", "--max-seconds", "10", config=config)
    live.start()
    events = simulate(live.url("/ivr"), "wait:listen dtmf:3", "--max-seconds", "10", config=config)
    assert says(events) == ["Main menu", "Thanks"] and not of(events, "offline")
    assert [r.params["Digits"] for r in live.requests if "Digits" in r.params] == ["1", "2", "3"]
    assert all("X-Ivrbox-Replay" in r.headers for r in live.requests if r.params.get("Digits") in ("1", "2"))


FLUSH_MANY = 200


def test_two_flushers_at_once_deliver_every_item_exactly_once(state, tmp_path):
    config = state()
    with FaultServer({"/ivr/act": lambda rec: (time.sleep(0.002), THANKS)[1]}) as server:
        box = Outbox(tmp_path / "outbox.sqlite")
        ids = [box.put(Request("POST", server.url("/ivr/act"), {"Digits": str(i % 10), "CallSid": f"CA{i}"},
                               input={"Digits": str(i % 10)})).id for i in range(FLUSH_MANY)]
        box.close()
        procs = [subprocess.Popen([IVRBOX, "outbox", "flush", "--config", config], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        tokens = server.tokens("/ivr/act")
    assert sorted(tokens) == sorted(ids), outs  # each once: no duplicate, none missing
    assert list(dict.fromkeys(tokens)) == ids  # in order
    delivered = sum(int(out.split("delivered ")[1].split(";")[0]) for out, _ in outs)
    assert delivered == FLUSH_MANY


def test_dead_letters_block_nothing_and_can_be_retried_or_dropped(live, state, tmp_path):
    config = state(outbox={"max_attempts": 2})
    live.routes.update({"/ivr": MENU, "/ivr/act": THANKS})
    live.stop()
    for key in "45":
        simulate(live.url("/ivr"), f"wait:listen dtmf:{key}", "--max-seconds", "10", config=config)
    for _ in range(2):
        ivrbox("outbox", "flush", "--config", config)
    box = Outbox(tmp_path / "outbox.sqlite")
    [dead] = box.dead()  # the first ran out of tries; the second waits behind nothing
    assert dead.input == {"Digits": "4"} and dead.attempts == 2
    listed = ivrbox("outbox", "--config", config).stdout
    assert "1 dead letters" in listed and "Digits=4" in listed and "dead since" in listed
    live.start()
    events = simulate(live.url("/ivr"), "wait:listen dtmf:6", "--max-seconds", "10", config=config)
    assert says(events) == ["Main menu", "Thanks"] and not of(events, "queued")
    assert [r.params["Digits"] for r in live.requests if "Digits" in r.params] == ["5", "6"]
    retried = ivrbox("outbox", "retry", dead.id, "--config", config)
    assert retried.returncode == 0 and "1 dead letter(s) back in the queue" in retried.stdout
    assert "delivered 1; 0 pending" in retried.stdout
    assert [r.params["Digits"] for r in live.requests if "Digits" in r.params] == ["5", "6", "4"]
    assert ivrbox("outbox", "drop", dead.id, "--config", config).returncode == 1  # delivered: nothing to drop
    live.stop()
    simulate(live.url("/ivr"), "wait:listen dtmf:9", "--max-seconds", "10", config=config)
    [waiting] = box.pending()
    dropped = ivrbox("outbox", "drop", waiting.id, "--config", config)
    assert dropped.returncode == 0 and "dropped:" in dropped.stdout and "Digits=9" in dropped.stdout
    assert box.pending() == [] and box.dead() == []
    assert ivrbox("outbox", "retry", "--config", config).returncode == 2


def test_flows_urls_are_never_queued(state, tmp_path, monkeypatch):
    root = tmp_path / "flows"
    root.mkdir()
    (root / "menu.xml").write_text('<Response><Gather numDigits="1" action="flows:/nowhere"><Say>Pick</Say>'
                                   "</Gather></Response>")
    monkeypatch.setenv("IVRBOX_FLOWS", str(root))
    events = simulate("flows:/menu", "wait:listen dtmf:1", "--max-seconds", "10", config=state())
    assert of(events, "error")[0]["code"] == 11200 and not of(events, "queued")
    assert Outbox(tmp_path / "outbox.sqlite").count() == 0


def test_the_breaker_probe_asks_the_origin_and_any_answer_closes_it(tmp_path):
    with FaultServer({"/ivr/act": (404, {}, "gone")}) as server:
        server.stop()
        web = OfflineFetcher(HttpClient(), outbox=Outbox(tmp_path / "o.sqlite"), probe_interval=0.05)

        async def scenario():
            await web.fetch(Request("POST", server.url("/ivr/act"), {"Digits": "1"}, input={"Digits": "1"}))
            assert web.breaker.is_open(server.url("/anything"))
            server.start()
            for _ in range(100):
                if not web.breaker.is_open(server.url("/")):
                    break
                await asyncio.sleep(0.02)
            await web.close()

        asyncio.run(scenario())
        assert not web.breaker.is_open(server.url("/"))
        probes = [r for r in server.requests if r.headers.get("X-Ivrbox-Probe")]
        assert probes and all(r.path == "/" for r in probes)  # the origin, not the failing URL
        # The 404 on "/" is an answer: the origin is up; the queued input was then delivered once.
        assert [r.headers[TOKEN_HEADER] for r in server.requests if r.params.get("Digits")] != []


def test_a_failing_play_url_never_marks_its_origin_down(live, state):
    config = state(server={"timeout": 1.0})

    def slow_audio(rec):
        time.sleep(1.5)
        return 200, {"Content-Type": "audio/wav"}, b"RIFF"

    live.routes.update({
        "/ivr": f'<Response><Play>{live.url("/broken.wav")}</Play><Play>{live.url("/missing.wav")}</Play>'
                '<Redirect>/ivr/next</Redirect></Response>',
        "/broken.wav": slow_audio,
        "/ivr/next": THANKS,
    })
    events = simulate(live.url("/ivr"), "", "--max-seconds", "10", config=config)
    codes = [e["code"] for e in of(events, "error")]
    assert codes == [11205, 11200], events
    assert says(events) == ["Thanks"] and not of(events, "offline")  # the origin still answers live
    assert [r.path for r in live.requests if r.path == "/ivr/next"] == ["/ivr/next"]


def test_a_private_answer_is_never_replayed_to_another_caller(live, state, tmp_path, monkeypatch):
    root = tmp_path / "flows"
    root.mkdir()
    monkeypatch.setenv("IVRBOX_FLOWS", str(root))

    def personal(rec):
        return f"<Response><Say>Hello {rec.params['From']}, your balance is 42</Say></Response>"

    live.routes["/ivr"] = personal
    config = state()
    ann = simulate(live.url("/ivr"), "", "--from", "+15551111", config=config)
    assert says(ann) == ["Hello +15551111, your balance is 42"]
    live.stop()
    bob = simulate(live.url("/ivr"), "", "--from", "+15552222", config=config)
    assert not any("+15551111" in text for text in says(bob)) and of(bob, "offline")[0]["source"] == "apology"
    again = simulate(live.url("/ivr"), "", "--from", "+15551111", config=config)
    assert says(again) == ["Hello +15551111, your balance is 42"]  # the same caller gets their own copy
    live.start()
    live.routes["/ivr"] = (200, {"Cache-Control": "public"}, "<Response><Say>Open today</Say></Response>")
    simulate(live.url("/ivr"), "", "--from", "+15551111", config=config)
    live.stop()
    shared = simulate(live.url("/ivr"), "", "--from", "+15553333", config=config)
    assert says(shared) == ["Open today"]


def test_a_bundled_flow_plays_its_own_audio_and_nothing_outside_its_folder(tmp_path, monkeypatch):
    root = tmp_path / "flows"
    (root / "kiosk").mkdir(parents=True)
    with wave.open(str(root / "kiosk" / "welcome.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\1" * 4000)
    (tmp_path / "secret.wav").write_bytes((root / "kiosk" / "welcome.wav").read_bytes())
    (root / "kiosk" / "index.xml").write_text(
        "<Response><Play>flows:/kiosk/welcome.wav</Play><Play>flows:/kiosk/../../secret.wav</Play>"
        "<Play>flows:/%2e%2e/secret.wav</Play><Say>Done</Say></Response>")
    monkeypatch.setenv("IVRBOX_FLOWS", str(root))
    events = simulate("flows:/kiosk/index.xml", "")
    assert [e["url"] for e in of(events, "play")] == ["flows:/kiosk/welcome.wav"]
    assert [e["code"] for e in of(events, "error")] == [11200, 11200]
    assert says(events) == ["Done"]


def test_simulate_runs_on_fresh_private_state_unless_asked_to_keep_it(live, tmp_path):
    live.routes.update({"/ivr": MENU, "/ivr/act": THANKS})
    live.stop()
    for _ in range(2):
        events = simulate(live.url("/ivr"), "wait:listen dtmf:1", "--max-seconds", "10")
        assert [q["input"] for q in of(events, "queued")] == [{"Digits": "1"}]
        assert "waits its turn" not in json.dumps(events)
    assert not list(tmp_path.glob("xdg-*/**/outbox.sqlite")) and not list(tmp_path.glob("xdg-*/**/index.sqlite"))
    kept = tmp_path / "kept"
    for _ in range(2):
        simulate(live.url("/ivr"), "wait:listen dtmf:2", "--max-seconds", "10", "--state", str(kept))
    assert Outbox(kept / "outbox.sqlite").count() == 2 and (kept / "cache" / "index.sqlite").is_file()


IVR = {"/ivr": '<Response><Gather numDigits="1" action="/ivr/a"><Say>First</Say></Gather></Response>',
       "/ivr/a": '<Response><Gather numDigits="2" action="/ivr/b"><Say>Second</Say></Gather></Response>',
       "/ivr/b": '<Response><Say>Third</Say><Redirect>/ivr/c</Redirect></Response>',
       "/ivr/c": "<Response><Say>Bye</Say><Hangup/></Response>"}


def test_one_persistent_outbox_with_input_for_a_dead_server_poisons_nothing(live, tmp_path, config_file):
    """The seed scenarios and a multi-step IVR on another live server pass twice in a row,
    all on one persistent state whose outbox holds input for a dead server."""
    kept = tmp_path / "kept"
    with FaultServer({"/ivr": MENU}) as dead:
        dead.stop()
        events = simulate(dead.url("/ivr"), "wait:listen dtmf:5", "--max-seconds", "10", "--state", str(kept))
        assert of(events, "queued")
        live.routes.update(IVR)
        env = {**os.environ, "IVRBOX_TEST_STATE": str(kept)}
        for _ in range(2):
            suite = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                    str(ROOT / "tests" / "test_gather_seed.py")],
                                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
            assert suite.returncode == 0, suite.stdout[-3000:]
            events = simulate(live.url("/ivr"), "wait:listen dtmf:1 wait:listen dtmf:23", "--max-seconds", "20",
                              "--state", str(kept))
            assert says(events) == ["First", "Second", "Third", "Bye"], events
            assert not of(events, "queued") and not of(events, "offline")
    [held] = Outbox(kept / "outbox.sqlite").pending()  # still there, not lost
    assert held.input == {"Digits": "5"}
