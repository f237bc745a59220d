"""The HTTP client through `ivrbox simulate` against real local servers: a cookie jar per
call (a real Flask app keeping its menu in the session cookie), Basic auth from the URL
with the password never shown, browser URL encoding, unbuildable URLs, one deadline."""

import socket
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from flask import Flask, request, session
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Gather, VoiceResponse
from werkzeug.serving import make_server

from fault_server import HeaderTrickle, SlowBody
from simulate import IVRBOX, of, simulate
from twiml_server import TwimlServer

TOKEN = "0123456789abcdef0123456789abcdef"


def menu_app():
    """A multi-step IVR that keeps its state only in Flask's signed session cookie."""
    app = Flask(__name__)
    app.secret_key = "test"
    seen = []

    @app.route("/ivr", methods=["POST"])
    def ivr():
        seen.append((request.form.get("CallSid"), request.cookies.get("session") is not None))
        path = session.get("path", "")
        if "Digits" in request.form:
            path += request.form["Digits"]
            session["path"] = path
        resp = VoiceResponse()
        if len(path) < 3:
            gather = Gather(num_digits=1, action="/ivr", timeout=3)
            gather.say(f"Step {len(path) + 1}, so far {path or 'nothing'}")
            resp.append(gather)
        else:
            resp.say(f"You chose {path}")
            resp.hangup()
        return str(resp), 200, {"Content-Type": "text/xml"}

    return app, seen


@pytest.fixture
def flask_server():
    app, seen = menu_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def test_a_flask_session_cookie_lives_for_one_call_and_only_that_call(flask_server):
    base, seen = flask_server
    first = simulate(base + "/ivr", "wait:listen dtmf:1 wait:listen dtmf:2 wait:listen dtmf:3")
    assert [e["text"] for e in of(first, "say")] == ["Step 1, so far nothing", "Step 2, so far 1",
                                                     "Step 3, so far 12", "You chose 123"]
    second = simulate(base + "/ivr", "wait:listen dtmf:9")
    assert [e["text"] for e in of(second, "say")][:2] == ["Step 1, so far nothing", "Step 2, so far 9"]
    calls = list(dict.fromkeys(sid for sid, _ in seen))
    assert len(calls) == 2
    # Flask sets the cookie in its answer to the first key: every later request of that call
    # brings it back, and the next call starts without it.
    assert [cookie for sid, cookie in seen if sid == calls[0]] == [False, False, True, True]
    assert [cookie for sid, cookie in seen if sid == calls[1]] == [False, False]


def test_basic_auth_from_the_url_and_the_password_is_never_shown(config_file, tmp_path):
    import base64

    def guarded(rec):
        expected = "Basic " + base64.b64encode(b"ann:s3cr3t").decode()
        if rec.headers.get("Authorization") != expected:
            return 401, {"WWW-Authenticate": "Basic"}, "who are you"
        return '<Response><Gather numDigits="1" action="/act"><Say>Welcome</Say></Gather></Response>'

    with TwimlServer({"/ivr": guarded, "/act": (503, {}, "")}) as server:
        url = server.url("/ivr").replace("http://", "http://ann:s3cr3t@")
        config = config_file(server={"auth_token": TOKEN, "connect_timeout": 0.5},
                             outbox={"path": str(tmp_path / "o.sqlite")})
        proc_events = simulate(url, "wait:listen dtmf:4", "--max-seconds", "10", config=config)
        assert [e["text"] for e in of(proc_events, "say")][0] == "Welcome"
        assert server.requests[0].headers["Authorization"].startswith("Basic ")
        # Signed over the URL the server sees, as Twilio's validator checks it.
        rec = server.requests[0]
        assert RequestValidator(TOKEN).validate(rec.url, rec.params, rec.headers["X-Twilio-Signature"])
        import json
        import subprocess

        shown = json.dumps(proc_events)
        assert "s3cr3t" not in shown and "ann:***@" in shown
        assert of(proc_events, "queued"), proc_events  # /act is relative: it carries the credentials too
        listed = subprocess.run([IVRBOX, "outbox", "--config", config], capture_output=True, text=True, check=True)
        assert "1 pending" in listed.stdout and "s3cr3t" not in listed.stdout and "ann:***@" in listed.stdout


def test_urls_are_encoded_as_a_browser_does_and_the_fragment_never_reaches_the_query(server):
    server.routes["/start"] = ('<Response><Gather numDigits="1" method="GET" action="/a b/menü#top">'
                               '<Say>Pick</Say></Gather></Response>')
    server.routes["/a%20b/men%C3%BC"] = "<Response><Say>Found it</Say></Response>"
    events = simulate(server.url("/start"), "wait:listen dtmf:5")
    assert [e["text"] for e in of(events, "say")] == ["Pick", "Found it"]
    rec = server.requests[1]
    assert rec.path == "/a%20b/men%C3%BC" and rec.params["Digits"] == "5" and "#" not in rec.url
    assert not of(events, "error")


class V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def test_an_ipv6_literal_url(server):
    server.routes["/v6"] = "<Response><Say>Over IPv6</Say></Response>"
    v6 = V6Server(("::1", 0), server.httpd.RequestHandlerClass)
    threading.Thread(target=v6.serve_forever, daemon=True).start()
    try:
        events = simulate(f"http://[::1]:{v6.server_address[1]}/v6", "")
    finally:
        v6.shutdown()
        v6.server_close()
    assert [e["text"] for e in of(events, "say")] == ["Over IPv6"]


@pytest.mark.parametrize("bad", ["http://127.0.0.1:99999/next", "http://exa mple.com/next", "gopher://h/next"])
def test_a_url_that_cannot_be_built_is_11100_for_that_request_only(live, config_file, tmp_path, bad):
    live.routes["/start"] = (f'<Response><Gather numDigits="1" action="{bad}"><Say>Pick</Say></Gather>'
                             "</Response>")
    live.routes["/again"] = "<Response><Say>Still here</Say></Response>"
    config = config_file(server={"fallback_url": live.url("/again"), "connect_timeout": 0.5},
                         outbox={"path": str(tmp_path / "o.sqlite")}, offline={"flow": "flows:/offline.xml"})
    events = simulate(live.url("/start"), "wait:listen dtmf:1", "--max-seconds", "10", config=config)
    error = of(events, "error")[0]
    assert error["code"] == 11100, events
    assert not of(events, "queued")
    # Never "down": the fallback_url on the same origin is asked and answers, not the offline flow.
    assert [e["source"] for e in of(events, "offline")] == ["fallback"]
    assert [e["text"] for e in of(events, "say")] == ["Pick", "Still here"]


@pytest.mark.parametrize("kind", [HeaderTrickle, SlowBody])
def test_a_trickling_audio_server_is_cut_at_the_deadline_and_the_call_goes_on(server, config_file, kind):
    with kind() as slow:
        server.routes["/start"] = f"<Response><Play>{slow.url('/a.wav')}</Play><Say>After</Say></Response>"
        config = config_file(server={"timeout": 1.0, "connect_timeout": 0.5})
        started = time.monotonic()
        events = simulate(server.url("/start"), "", "--max-seconds", "10", config=config)
        took = time.monotonic() - started
    error = of(events, "error")[0]
    assert error["code"] == 11205 and "1 s" in error["message"], error
    assert [e["text"] for e in of(events, "say")] == ["After"]
    assert took < 6


def test_a_header_trickling_twiml_server_costs_the_connect_timeout(config_file, tmp_path, monkeypatch):
    root = tmp_path / "flows"
    root.mkdir()
    (root / "ivr.xml").write_text("<Response><Say>Bundled</Say></Response>")
    monkeypatch.setenv("IVRBOX_FLOWS", str(root))
    with HeaderTrickle() as slow:
        events = simulate(slow.url("/ivr"), "", "--max-seconds", "10",
                          config=config_file(server={"connect_timeout": 0.5}))
    offline = of(events, "offline")[0]
    assert offline["source"] == "bundled" and offline["wait"] < 0.8
    assert of(events, "error")[0]["code"] == 11205
