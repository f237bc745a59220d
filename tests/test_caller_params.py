"""Twilio's geographic parameters (FromCountry/State/City/Zip, the same for To) from the
phonenumbers library, through `ivrbox simulate` against a Flask app; unsupported verbs warn
once and the document goes on, and lint reports them."""

import json
import subprocess
import threading

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from simulate import IVRBOX, of, simulate

UNSUPPORTED = """<Response>
  <Say>Before</Say>
  <Enqueue waitUrl="/wait">support</Enqueue>
  <Leave/>
  <Pay input="dtmf" maxAttempts="2"><Prompt for="payment-card-number"><Say>Card</Say></Prompt></Pay>
  <Refer><Sip>sip:alice@example.com</Sip></Refer>
  <Sms to="+15550100">hi</Sms>
  <Start><Transcription statusCallbackUrl="/t"/><Siprec connectorName="c"/></Start>
  <Say>After</Say>
</Response>"""


@pytest.fixture(scope="module")
def app():
    application = Flask(__name__)
    seen = []

    @application.route("/ivr", methods=["POST"])
    def ivr():
        seen.append(dict(request.form))
        return "<Response><Say>Hi</Say></Response>", 200, {"Content-Type": "text/xml"}

    @application.route("/unsupported", methods=["POST"])
    def unsupported():
        return UNSUPPORTED, 200, {"Content-Type": "text/xml"}

    server = make_server("127.0.0.1", 0, application, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


@pytest.mark.parametrize("caller, country, state, city", [
    ("+493012345678", "DE", "", "Berlin"),
    ("+442079460000", "GB", "", "London"),
    ("+12125551234", "US", "NY", "NEW YORK"),
    ("+14155551212", "US", "CA", "SAN FRANCISCO"),
])
def test_geographic_parameters_of_the_caller(app, caller, country, state, city):
    base, seen = app
    simulate(base + "/ivr", "", "--from", caller, "--to", "+498912345678")
    form = seen[-1]
    assert (form["From"], form["FromCountry"], form["FromState"], form["FromCity"], form["FromZip"]) == (
        caller, country, state, city, "")
    assert (form["ToCountry"], form["ToCity"]) == ("DE", "Munich")


def test_unknown_numbers_send_empty_parameters(app):
    base, seen = app
    simulate(base + "/ivr", "", "--from", "anonymous", "--to", "+999123")
    form = seen[-1]
    assert [form[k] for k in ("FromCountry", "FromState", "FromCity", "FromZip", "ToCountry", "ToCity")] == [""] * 6
    assert "CallerName" not in form


def test_verbs_a_box_cannot_perform_warn_once_each_and_the_document_goes_on(app):
    base, _ = app
    events = simulate(base + "/unsupported", "")
    assert [e["text"] for e in of(events, "say")] == ["Before", "After"]
    warnings = [w["message"] for w in of(events, "warning")]
    for tag in ("Enqueue", "Leave", "Pay", "Refer", "Sms", "Transcription", "Siprec"):
        assert sum(f"<{tag}>" in w for w in warnings) == 1, (tag, warnings)
    assert len(warnings) == 7


def test_lint_reports_them(tmp_path):
    doc = tmp_path / "flow.xml"
    doc.write_text(UNSUPPORTED)
    out = subprocess.run([IVRBOX, "lint", "--format", "json", str(doc)], capture_output=True, text=True, timeout=60)
    findings = [json.loads(line) for line in out.stdout.splitlines()] if not out.stdout.startswith("[") \
        else json.loads(out.stdout)
    messages = " ".join(f["message"] for f in findings)
    for tag in ("Enqueue", "Leave", "Pay", "Refer", "Sms", "Transcription", "Siprec"):
        assert f"<{tag}> cannot run on this box" in messages
    assert all(f["level"] == "warning" for f in findings)
