"""The outbox: durable through kill -9 at any moment, delivered in order and once per
request id, and replayed by the breaker's probe as soon as the server is back."""

import asyncio
import random
import sqlite3
import subprocess
import sys
import time

import pytest

from fault_server import FaultServer

from firmware_app.web.client import HttpClient, Request
from firmware_app.web.offline import OfflineFetcher
from firmware_app.web.outbox import REPLAY_HEADER, TOKEN_HEADER, Outbox, OutboxError

WRITER = """
import sys
from firmware_app.web.client import Request
from firmware_app.web.outbox import Outbox
box = Outbox(sys.argv[1])
n = 0
while True:
    n += 1
    item = box.put(Request("POST", "http://127.0.0.1:9/ivr", {"Digits": str(n % 10), "CallSid": f"CA{sys.argv[2]}-{n}",
                                                           "SpeechResult": "x" * (n % 500)}))
    print(item.id, flush=True)
"""

DELIVERER = """
import asyncio, sys
from firmware_app.web.client import HttpClient
from firmware_app.web.outbox import Outbox
box = Outbox(sys.argv[1])
print("go", flush=True)
asyncio.run(box.deliver(HttpClient(timeout=5)))
"""


def child(script, *args):
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)


def action(url, digits, sid="CA1"):
    return Request("POST", url, {"Digits": digits, "CallSid": sid}, input={"Digits": digits})


def test_pending_keeps_order_and_the_fields(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    first = box.put(action("http://h/a", "1"))
    second = box.put(Request("POST", "http://h/b", {"SpeechResult": "yes", "CallSid": "CA2"},
                             input={"SpeechResult": "yes"}))
    assert [i.id for i in box.pending()] == [first.id, second.id]
    assert first.created_at <= second.created_at
    assert [(i.input, i.params["CallSid"]) for i in box.pending()] == [({"Digits": "1"}, "CA1"),
                                                                       ({"SpeechResult": "yes"}, "CA2")]
    assert box.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    again = box.put(Request("POST", "http://h/a", {"Digits": "1"}, headers={TOKEN_HEADER: first.id}))
    assert again.seq == first.seq and box.count() == 2  # same request id: stored once


def test_an_outbox_that_cannot_be_written_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutboxError, match="cannot open the outbox"):
        Outbox(blocker / "o.sqlite")


def test_delivery_is_in_order_once_per_id_and_marked_as_a_replay(tmp_path):
    with FaultServer({"/ivr": "<Response/>", "/bad": (400, {}, "no")}) as server:
        box = Outbox(tmp_path / "o.sqlite")
        items = [box.put(action(server.url("/ivr"), str(i), f"CA{i}")) for i in range(5)]
        box.put(action(server.url("/bad"), "9"))
        sent, why = asyncio.run(box.deliver(HttpClient()))
        assert (sent, why) == (6, None)
        assert server.tokens("/ivr") == [i.id for i in items]
        assert all(r.headers[REPLAY_HEADER].endswith("Z") for r in server.requests)
        assert box.delivered(1)[0].status == 400  # the server said no: kept, not retried forever
        assert asyncio.run(box.deliver(HttpClient())) == (0, None)
        assert len(server.requests) == 6


def test_delivery_stops_at_the_first_unreachable_and_keeps_the_rest(tmp_path):
    with FaultServer({"/ivr": "<Response/>"}) as server:
        box = Outbox(tmp_path / "o.sqlite")
        items = [box.put(action(server.url("/ivr"), str(i))) for i in range(3)]
        server.stop()
        sent, why = asyncio.run(box.deliver(HttpClient()))
        assert sent == 0 and "refused" in why
        assert [i.id for i in box.pending()] == [i.id for i in items] and box.pending()[0].attempts == 1
        server.start()
        assert asyncio.run(box.deliver(HttpClient()))[0] == 3


def test_kill_9_mid_write_never_loses_an_acknowledged_request(tmp_path):
    path = tmp_path / "o.sqlite"
    acknowledged = []
    rng = random.Random(6)
    for run in range(25):
        proc = child(WRITER, str(path), str(run))
        first = proc.stdout.readline()  # the writer is up and has committed once
        time.sleep(rng.uniform(0.0, 0.08))
        proc.kill()
        out, _ = proc.communicate()
        acknowledged += [first.strip(), *out.split()]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in db.execute("SELECT id FROM requests")}
    assert len(acknowledged) > 100
    assert set(acknowledged) <= stored
    assert len(stored) - len(set(acknowledged)) <= 25  # at most the one in flight at each kill


def test_kill_9_mid_delivery_then_resume_delivers_every_id(tmp_path):
    import threading

    path = tmp_path / "o.sqlite"
    gate = threading.Event()

    def slow(rec):
        gate.wait(0.005)
        return "<Response/>"

    with FaultServer({"/ivr": slow}) as server:
        box = Outbox(path)
        ids = [box.put(action(server.url("/ivr"), str(i % 10), f"CA{i}")).id for i in range(300)]
        rng = random.Random(9)
        for _ in range(8):
            proc = child(DELIVERER, str(path))
            proc.stdout.readline()
            time.sleep(rng.uniform(0.05, 0.15))
            proc.kill()
            proc.wait()
        assert asyncio.run(Outbox(path).deliver(HttpClient()))[1] is None
        tokens = server.tokens("/ivr")
        assert set(tokens) == set(ids)
        assert len(tokens) - len(set(tokens)) <= 8  # a kill between send and mark resends once, same id
        first_seen = list(dict.fromkeys(tokens))
        assert first_seen == ids  # in order
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM requests WHERE delivered_at IS NULL").fetchone()[0] == 0


def test_the_breaker_probe_replays_the_outbox_when_the_server_returns(tmp_path):
    with FaultServer({"/ivr": "<Response><Say>hi</Say></Response>"}) as server:
        server.stop()
        web = OfflineFetcher(HttpClient(), outbox=Outbox(tmp_path / "o.sqlite"), probe_interval=0.05)

        async def scenario():
            down = await web.fetch(action(server.url("/ivr"), "5"))
            queued = [n for n in down.notes if n["event"] == "queued"]
            assert web.breaker.is_open(server.url("/ivr"))
            server.start()
            started = time.monotonic()
            while web.outbox.count() and time.monotonic() - started < 5:
                await asyncio.sleep(0.01)
            took = time.monotonic() - started
            await web.close()
            return queued, took

        queued, took = asyncio.run(scenario())
        assert len(queued) == 1 and took < 1.0
        replays = [r for r in server.requests if r.params.get("Digits") == "5"]
        assert [r.headers[TOKEN_HEADER] for r in replays] == [queued[0]["id"]]
        assert not web.breaker.is_open(server.url("/ivr"))


def test_a_new_action_waits_for_earlier_queued_input(tmp_path):
    with FaultServer({"/ivr": "<Response><Say>hi</Say></Response>"}) as server:
        box = Outbox(tmp_path / "o.sqlite")
        old = box.put(action(server.url("/ivr"), "1", "CA-old"))
        web = OfflineFetcher(HttpClient(), outbox=box)

        async def scenario():
            await web.fetch(action(server.url("/ivr"), "2", "CA-new"))
            await web.close()

        asyncio.run(scenario())
        assert [r.params["CallSid"] for r in server.requests] == ["CA-old", "CA-new"]
        assert server.requests[0].headers[TOKEN_HEADER] == old.id and box.count() == 0


def test_retries_back_off_per_origin_and_old_items_become_dead_letters(tmp_path):
    with FaultServer({"/ivr": "<Response/>"}) as a, FaultServer({"/ivr": "<Response/>"}) as b:
        a.stop()
        box = Outbox(tmp_path / "o.sqlite", retry_base=30, max_age=3600)
        old = box.put(action(a.url("/ivr"), "1"), created_at=time.time() - 7200)  # two hours old
        young = box.put(action(a.url("/ivr"), "2"))
        live = box.put(action(b.url("/ivr"), "3"))
        sent, why = asyncio.run(box.deliver(HttpClient()))
        assert sent == 1 and "refused" in why  # b delivered; a failed once
        assert [i.id for i in box.dead()] == [old.id]  # past max_age: a dead letter, blocking nothing
        assert [i.id for i in box.pending()] == [young.id]
        assert box.origins(due_only=True) == []  # a backs off 30 s
        assert box.origins() == [f"http://127.0.0.1:{a.port}"]
        assert b.tokens("/ivr") == [live.id]
        a.start()
        assert asyncio.run(box.deliver(HttpClient(), due_only=True)) == (0, None)  # still backing off
        assert asyncio.run(box.deliver(HttpClient()))[0] == 1  # a manual flush does not wait
        assert a.tokens("/ivr") == [young.id] and box.retry() == 1
        assert asyncio.run(box.deliver(HttpClient()))[0] == 1 and a.tokens("/ivr") == [young.id, old.id]


def test_trickling_servers_pin_no_thread_and_starve_nothing(tmp_path):
    import threading

    from fault_server import HeaderTrickle

    with HeaderTrickle() as slow, FaultServer({"/ok.wav": (200, {"Content-Type": "audio/wav"}, b"RIFF")}) as ok:
        client = HttpClient(timeout=2.0)

        async def scenario():
            stuck = [asyncio.create_task(client.fetch(Request("GET", slow.url(f"/{i}.wav"), kind="audio")))
                     for i in range(12)]
            await asyncio.sleep(0.3)
            started = time.monotonic()
            healthy = await client.fetch(Request("GET", ok.url("/ok.wav"), kind="audio"))
            took = time.monotonic() - started
            executors = [t.name for t in threading.enumerate() if t.name.startswith("asyncio")]
            results = await asyncio.gather(*stuck, return_exceptions=True)
            await client.close()
            return healthy, took, executors, results

        healthy, took, executors, results = asyncio.run(scenario())
    assert healthy.body == b"RIFF" and took < 0.5
    assert executors == []  # no executor thread held by any fetch
    assert all(getattr(r, "code", None) == 11205 and "2 s" in r.message for r in results)
