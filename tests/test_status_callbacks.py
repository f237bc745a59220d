"""Call status callbacks ([server] status_callback) through `ivrbox simulate` against a Flask
app: the events asked for, in order, with Twilio's parameters; a callback server that is down
gets them later from the outbox, each once."""

import email.utils
import subprocess
import threading

import pytest
from flask import Flask, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.serving import make_server

from mqtt_broker import free_port
from simulate import IVRBOX, of, simulate


def status_app():
    app = Flask(__name__)
    seen = []

    @app.route("/ivr", methods=["POST"])
    def ivr():
        resp = VoiceResponse()
        resp.say("Hello")
        resp.pause(length=3)
        return str(resp), 200, {"Content-Type": "text/xml"}

    @app.route("/reject", methods=["POST"])
    def reject():
        resp = VoiceResponse()
        resp.reject(reason="busy")
        return str(resp), 200, {"Content-Type": "text/xml"}

    @app.route("/status", methods=["POST"])
    def status():
        seen.append({**request.form, "replay": request.headers.get("X-Ivrbox-Replay", "")})
        return "", 204

    return app, seen


def serve(app, port=0):
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def app():
    application, seen = status_app()
    server = serve(application)
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def config(tmp_path, callback: str, events: str = "initiated ringing answered completed") -> str:
    path = tmp_path / "box.toml"
    path.write_text(f'[server]\nstatus_callback = "{callback}"\nstatus_callback_events = "{events}"\n'
                    f'[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n')
    return str(path)


def test_each_event_in_order_with_twilios_parameters(app, tmp_path):
    base, seen = app
    events = simulate(base + "/ivr", "", "--from", "+4930123456", config=config(tmp_path, base + "/status"))
    assert [s["CallStatus"] for s in seen] == ["ringing", "ringing", "in-progress", "completed"]
    assert [s["SequenceNumber"] for s in seen] == ["0", "1", "2", "3"]
    assert {s["CallbackSource"] for s in seen} == {"call-progress-events"}
    assert len({s["CallSid"] for s in seen}) == 1 and seen[0]["CallSid"].startswith("CA")
    assert seen[-1]["CallDuration"] == str(int(of(events, "hangup")[0]["t"]))
    assert int(seen[-1]["CallDuration"]) >= 3
    assert all(email.utils.parsedate_to_datetime(s["Timestamp"]).utcoffset().total_seconds() == 0 for s in seen)
    assert seen[0]["From"] == "+4930123456" and seen[0]["FromCountry"] == "DE" and seen[0]["Direction"] == "inbound"


def test_only_the_events_asked_for(app, tmp_path):
    base, seen = app
    simulate(base + "/reject", "", config=config(tmp_path, base + "/status", "completed"))
    assert [(s["CallStatus"], s["SequenceNumber"]) for s in seen] == [("busy", "0")]


def test_a_callback_server_that_is_down_gets_them_from_the_outbox(app, tmp_path):
    base, _ = app
    port = free_port()
    callback = f"http://127.0.0.1:{port}/status"
    cfg = config(tmp_path, callback, "answered completed")
    events = simulate(base + "/ivr", "", config=cfg)
    queued = of(events, "queued")
    assert [q["input"]["CallStatus"] for q in queued] == ["in-progress", "completed"]
    assert of(events, "say")[0]["text"] == "Hello"  # the call never waited on its callbacks

    application, seen = status_app()
    server = serve(application, port)
    try:
        flushed = subprocess.run([IVRBOX, "outbox", "flush", "--config", cfg], capture_output=True, text=True,
                                 timeout=60)
        assert flushed.returncode == 0, flushed.stderr
        assert [s["CallStatus"] for s in seen] == ["in-progress", "completed"]
        assert all(s["replay"] for s in seen)
        again = subprocess.run([IVRBOX, "outbox", "flush", "--config", cfg], capture_output=True, text=True,
                               timeout=60)
        assert again.returncode == 0 and len(seen) == 2  # each once
    finally:
        server.shutdown()
