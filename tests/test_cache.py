"""The cache against a real local server: HTTP caching rules, revalidation, stale copies
kept through failed refreshes, keys, pruning, and `ivrbox cache` list/prune/warm."""

import asyncio
import subprocess

import pytest

from simulate import IVRBOX

from firmware_app.web.cache import Cache, expiry, request_key
from firmware_app.web.client import FetchError, HttpClient, Request
from firmware_app.web.offline import OfflineFetcher


@pytest.fixture
def web(tmp_path):
    fetcher = OfflineFetcher(HttpClient(), cache=Cache(tmp_path / "cache"), connect_timeout=2.0)
    yield fetcher
    fetcher.cache.close()


def get(web, url, **kw):
    async def go():
        try:
            return await web.from_origin(Request("GET", url, {}, **kw))
        finally:
            await web.close()
    return asyncio.run(go())


DOC = "<Response><Say>cached</Say></Response>"


def test_max_age_is_served_without_asking_the_server(live, web):
    live.routes["/a"] = (200, {"Cache-Control": "max-age=60"}, DOC)
    assert get(web, live.url("/a")).body == DOC.encode()
    assert get(web, live.url("/a")).body == DOC.encode()
    assert len(live.requests) == 1


def test_no_store_is_never_kept_and_removes_an_old_copy(live, web):
    live.routes["/a"] = (200, {"Cache-Control": "max-age=0"}, DOC)
    get(web, live.url("/a"))
    assert web.cache.lookup(Request("GET", live.url("/a"))) is not None
    live.routes["/a"] = (200, {"Cache-Control": "no-store"}, DOC)
    get(web, live.url("/a"))
    assert web.cache.lookup(Request("GET", live.url("/a"))) is None


def test_no_cache_revalidates_with_the_etag_and_a_304_keeps_the_body(live, web):
    def route(rec):
        if rec.headers.get("If-None-Match") == '"v1"':
            return 304, {"ETag": '"v1"', "Cache-Control": "no-cache"}, ""
        return 200, {"ETag": '"v1"', "Cache-Control": "no-cache"}, DOC
    live.routes["/a"] = route
    get(web, live.url("/a"))
    again = get(web, live.url("/a"))
    assert [r.headers.get("If-None-Match") for r in live.requests] == [None, '"v1"']
    assert again.status == 200 and again.body == DOC.encode()


def test_last_modified_is_sent_back_as_if_modified_since(live, web):
    stamp = "Tue, 24 Nov 2026 10:00:00 GMT"
    live.routes["/a"] = (200, {"Last-Modified": stamp}, DOC)
    get(web, live.url("/a"))
    get(web, live.url("/a"))
    assert live.requests[1].headers.get("If-Modified-Since") == stamp


def test_a_stale_copy_survives_a_failed_refresh_and_answers_when_the_server_is_down(live, web):
    live.routes["/menu"] = (200, {"Cache-Control": "max-age=0"}, DOC)

    async def call(params):
        return await web.fetch(Request("POST", live.url("/menu"), params, input={"Digits": params["Digits"]}))

    async def scenario():
        await call({"CallSid": "CA1", "Digits": "4"})
        live.routes["/menu"] = (503, {}, "")
        down = await call({"CallSid": "CA2", "Digits": "4"})   # another call, same input
        other = await call({"CallSid": "CA3", "Digits": "5"})  # different input: not the same answer
        await web.close()
        return down, other

    down, other = asyncio.run(scenario())
    assert down.body == DOC.encode() and [n.get("source") for n in down.notes][-1] == "cache"
    assert [n.get("source") for n in other.notes][-1] == "apology"
    assert web.cache.lookup(Request("POST", live.url("/menu"), {"Digits": "4", "CallSid": "CA9"},
                                    input={"Digits": "4"})) is not None


def test_the_key_is_method_url_and_input_not_the_call():
    def req(method, params, **kw):
        return Request(method, "http://h/x", params, input={k: v for k, v in params.items() if k != "CallSid"}, **kw)

    a = req("POST", {"CallSid": "CA1", "Digits": "1"})
    assert request_key(a) == request_key(req("POST", {"CallSid": "CA2", "Digits": "1"}))
    assert request_key(a) != request_key(req("GET", {"Digits": "1"}))
    assert request_key(a) != request_key(req("POST", {"Digits": "2"}))
    assert request_key(a) != request_key(req("POST", {"SpeechResult": "1"}))
    # A private answer is keyed by its caller too.
    mine = req("POST", {"Digits": "1"}, caller="+1555")
    assert request_key(mine, shared=False) != request_key(req("POST", {"Digits": "1"}, caller="+1666"), shared=False)
    assert request_key(mine, shared=False) == request_key(req("POST", {"Digits": "1"}, caller="+1555"), shared=False)


def test_expiry_reads_cache_control_and_expires():
    assert expiry({"cache-control": "public, max-age=30"}, 100.0) == 130.0
    assert expiry({"cache-control": "s-maxage=5, max-age=30"}, 100.0) == 105.0
    assert expiry({"cache-control": "no-store"}, 100.0) is None
    assert expiry({"cache-control": "no-cache, max-age=30"}, 100.0) == 100.0
    assert expiry({"expires": "Thu, 01 Jan 1970 00:10:00 GMT"}, 100.0) == 600.0
    assert expiry({"expires": "garbage"}, 100.0) == 100.0
    assert expiry({"cache-control": "max-age=soon"}, 100.0) == 100.0


def test_a_bad_body_is_not_cached(live, web):
    live.routes["/a"] = "not xml"
    with pytest.raises(Exception, match="12100"):
        get(web, live.url("/a"))
    assert web.cache.lookup(Request("GET", live.url("/a"))) is None


def test_an_unreachable_origin_is_a_fetch_error_when_warming(web):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as err:
        get(web, f"http://127.0.0.1:{port}/a")
    assert err.value.unreachable


def test_prune_drops_old_entries_and_orphan_bodies(live, tmp_path):
    cache = Cache(tmp_path / "c")
    fetcher = OfflineFetcher(HttpClient(), cache=cache)
    for name in "abc":
        live.routes[f"/{name}"] = f"<Response><Say>{name * 1000}</Say></Response>"
        get(fetcher, live.url(f"/{name}"))
    (cache.bodies / "zz").mkdir()
    (cache.bodies / "zz" / "orphan").write_bytes(b"x")
    assert cache.prune(max_bytes=2500) == (1, 2)
    assert len(cache.entries()) == 2
    assert cache.prune(older_than=0) == (2, 2)
    assert cache.entries() == []


def run_ivrbox(*args, config):
    return subprocess.run([IVRBOX, *args, "--config", config], capture_output=True, text=True, timeout=60)


def test_ivrbox_cache_warm_crawls_menus_and_audio_then_list_and_prune(live, tmp_path, config_file):
    import wave

    wav = tmp_path / "hello.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0" * 800)
    live.routes["/kiosk"] = (f'<Response><Gather numDigits="1" action="/kiosk/menu"><Play>{live.url("/hello.wav")}'
                             '</Play></Gather><Redirect>/kiosk/bye</Redirect></Response>')
    live.routes["/kiosk/menu"] = lambda rec: (("<Response><Say>Option one</Say></Response>")
                                              if rec.params.get("Digits") == "1" else (404, {}, "no"))
    live.routes["/kiosk/bye"] = "<Response><Say>Bye</Say></Response>"
    live.routes["/hello.wav"] = (200, {"Content-Type": "audio/wav"}, wav.read_bytes())
    config = config_file(cache={"dir": str(tmp_path / "cache")}, outbox={"path": str(tmp_path / "o.sqlite")})
    warmed = run_ivrbox("cache", "warm", live.url("/kiosk"), config=config)
    assert warmed.returncode == 0, warmed.stderr
    assert "warmed 3 documents and 1 audio files; 0 errors" in warmed.stdout
    assert all(r.headers.get("X-Ivrbox-Warm") == "1" for r in live.requests)
    listed = run_ivrbox("cache", "list", config=config).stdout
    assert "4 entries" in listed and "/kiosk/menu Digits=1" in listed and "audio" in listed

    live.stop()  # the kiosk now runs the whole flow from the cache
    from simulate import of, simulate

    events = simulate(live.url("/kiosk"), "wait:listen dtmf:1", "--max-seconds", "10", config=config)
    assert [e["url"] for e in of(events, "play")] == [live.url("/hello.wav")]
    assert [e["text"] for e in of(events, "say")] == ["Option one"]

    assert run_ivrbox("cache", "prune", config=config).returncode == 2
    pruned = run_ivrbox("cache", "prune", "--older-than", "0", config=config)
    assert "pruned 4 entries" in pruned.stdout
    bad = run_ivrbox("cache", "warm", "flows:/demo", config=config)
    assert bad.returncode == 2 and "not an http(s) URL" in bad.stderr


def test_a_bounded_cache_holds_max_bytes_after_every_store_and_evicts_the_least_recently_used(tmp_path):
    from firmware_app.web.client import Response

    cache = Cache(tmp_path / "c", max_bytes=10_000)

    def doc(i):
        return Request("POST", "http://box.test/ivr", {"Digits": str(i)}, input={"Digits": str(i)})

    def store(i):
        cache.store(doc(i), Response("http://box.test/ivr", 200, b"<Response>%d</Response>" % i + b" " * 1000,
                                     {"cache-control": "max-age=60"}))

    for i in range(9):
        store(i)
    for i in range(9, 40):
        cache.used(cache.lookup(doc(0)))  # a hit is a use: 0 stays the most recent
        store(i)
        bodies = sum(p.stat().st_size for p in (tmp_path / "c" / "bodies").glob("*/*"))
        assert bodies <= 10_000, i  # after every store, not every hundredth
    assert cache.lookup(doc(39)) is not None and cache.lookup(doc(0)) is not None
    assert cache.lookup(doc(1)) is None and cache.lookup(doc(30)) is None


STORER = """
import sys
from firmware_app.web.cache import Cache
from firmware_app.web.client import Request, Response
cache = Cache(sys.argv[1], max_bytes=20_000)
for i in range(150):
    req = Request("POST", "http://box.test/ivr", {}, input={"n": f"{sys.argv[2]}-{i}"})
    cache.store(req, Response(req.url, 200, b"<Response>%s %d</Response>" % (sys.argv[2].encode(), i) + b" " * 900,
                              {"cache-control": "max-age=60"}))
"""


def test_max_bytes_holds_across_processes_storing_at_once(tmp_path):
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", STORER, str(tmp_path / "c"), str(n)]) for n in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    cache = Cache(tmp_path / "c")
    bodies = sum(p.stat().st_size for p in (tmp_path / "c" / "bodies").glob("*/*"))
    indexed = cache.db.execute("SELECT sum(size) FROM entries").fetchone()[0]
    assert indexed <= 20_000 and bodies <= 20_000
    assert len(cache.entries()) >= 15
