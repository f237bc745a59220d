"""<Dial> through `ivrbox simulate` against a Flask app written with Twilio's helper library:
the simulated far end answers, is busy, does not answer or fails; the action request carries
DialCallStatus and DialCallDuration; without an action the document goes on; nouns a phone
line cannot reach fail with a warning."""

import threading

import pytest
from flask import Flask, request
from twilio.twiml.voice_response import Dial, VoiceResponse
from werkzeug.serving import make_server

from simulate import of, simulate


def dial_app():
    app = Flask(__name__)
    seen = []

    def xml(resp):
        return str(resp), 200, {"Content-Type": "text/xml"}

    @app.route("/call", methods=["POST"])
    def call():
        resp = VoiceResponse()
        resp.say("Connecting you")
        dial = Dial(action="/after", timeout=20, caller_id="+15551112222")
        dial.number("+1 415-555-0100")
        resp.append(dial)
        resp.say("never heard")
        return xml(resp)

    @app.route("/after", methods=["POST"])
    def after():
        seen.append(dict(request.form))
        resp = VoiceResponse()
        resp.say(f"Dial said {request.form['DialCallStatus']}")
        return xml(resp)

    @app.route("/plain", methods=["POST"])
    def plain():
        resp = VoiceResponse()
        resp.dial("5550123")
        resp.say("After the dial")
        return xml(resp)

    @app.route("/star", methods=["POST"])
    def star():
        resp = VoiceResponse()
        dial = Dial(action="/after", hangup_on_star=request.args.get("star") == "1", time_limit=40)
        dial.number("5550123")
        resp.append(dial)
        return xml(resp)

    @app.route("/sip", methods=["POST"])
    def sip():
        resp = VoiceResponse()
        dial = Dial(action="/after")
        dial.sip("sip:alice@example.com")
        dial.conference("Room 1")
        resp.append(dial)
        return xml(resp)

    return app, seen


@pytest.fixture(scope="module")
def app():
    application, seen = dial_app()
    server = make_server("127.0.0.1", 0, application, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


@pytest.mark.parametrize("far, status, duration", [
    ("dial:answered:30", "completed", 30),
    ("dial:busy", "busy", 0),
    ("dial:no-answer", "no-answer", 0),
    ("dial:failed", "failed", 0),
])
def test_each_far_end_reaches_the_action(app, far, status, duration):
    base, seen = app
    seen.clear()
    events = simulate(base + "/call", far)
    dials = of(events, "dial")
    assert [(d["number"], d["status"], d["duration"]) for d in dials] == [("+1 415-555-0100", status, duration)]
    assert seen and seen[-1]["DialCallStatus"] == status
    assert abs(int(seen[-1]["DialCallDuration"]) - duration) <= 1
    assert [e["text"] for e in of(events, "say")] == ["Connecting you", f"Dial said {status}"]
    assert any("callerId" in w["message"] for w in of(events, "warning"))


def test_timeout_counts_call_seconds(app):
    base, _ = app
    events = simulate(base + "/call", "dial:no-answer")
    dial = of(events, "dial")[0]
    start = of(events, "say")[0]["t"]
    assert 20 <= dial["t"] - start <= 26  # flash, dial tone, then timeout=20 s of ringing


def test_without_an_action_the_document_goes_on(app):
    base, _ = app
    events = simulate(base + "/plain", "dial:busy")
    assert of(events, "dial")[0]["number"] == "5550123"
    assert of(events, "say")[-1]["text"] == "After the dial"


def test_nouns_a_line_cannot_reach_fail_with_a_warning(app):
    base, seen = app
    seen.clear()
    events = simulate(base + "/sip", "dial:answered:5")
    warnings = [w["message"] for w in of(events, "warning")]
    assert any("<Conference>" in w and "<Sip>" in w for w in warnings)
    assert seen[-1]["DialCallStatus"] == "failed"


def test_the_caller_script_takes_the_far_ends_in_order(app):
    base, _ = app
    events = simulate(base + "/plain", "dial:failed dial:answered:3")
    assert of(events, "dial")[0]["status"] == "failed"


@pytest.mark.parametrize("star, duration", [("1", 6), ("0", 40)])
def test_hangup_on_star_and_the_time_limit_end_a_bridged_call(app, star, duration):
    """The simulator bridges as Twilio does: the caller's * ends the dialled call with
    hangupOnStar, else timeLimit (40 s) does, before the far end's 60 s are up."""
    base, seen = app
    seen.clear()
    events = simulate(base + f"/star?star={star}", "dial:answered:60 wait:10 key:*")
    dial = of(events, "dial")[0]
    assert dial["status"] == "completed" and seen[-1]["DialCallStatus"] == "completed"
    assert abs(dial["duration"] - duration) <= 1.5, dial
