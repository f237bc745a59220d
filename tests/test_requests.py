"""What every request carries: Twilio's parameters and a signature its helper library accepts."""

import re

from twilio.request_validator import RequestValidator

from simulate import of, simulate

TOKEN = "0123456789abcdef0123456789abcdef"
SID = "AC" + "ab" * 16


def test_every_request_is_signed_so_twilios_validator_accepts_it(server, config_file):
    server.routes.update({
        "/start": '<Response><Gather numDigits="2" action="/post-step"/></Response>',
        "/post-step": '<Response><Gather numDigits="1" action="/get-step?x=1&amp;y=two" method="GET"/></Response>',
        "/get-step": '<Response><Redirect>/end</Redirect></Response>',
        "/end": "<Response><Hangup/></Response>",
    })
    config = config_file(server={"auth_token": TOKEN, "account_sid": SID})
    simulate(server.url("/start"), "wait:listen dtmf:12 wait:listen dtmf:3", config=config)
    assert [r.path for r in server.requests] == ["/start", "/post-step", "/get-step", "/end"]
    validator = RequestValidator(TOKEN)
    for req in server.requests:
        signature = req.headers["X-Twilio-Signature"]
        params = req.params if req.method == "POST" else {}
        assert validator.validate(req.url, params, signature), req.path
        assert not RequestValidator("wrong" + TOKEN).validate(req.url, params, signature)
    assert server.requests[2].params["Digits"] == "3" and server.requests[2].params["x"] == "1"


def test_standard_parameters(server, config_file):
    server.routes["/start"] = '<Response><Gather numDigits="1"/></Response>'
    config = config_file(server={"account_sid": SID}, call={"from": "+441234567890", "to": "+15005550006"})
    events = simulate(server.url("/start"), "wait:listen dtmf:5 hangup", "--from", "+15551234567", config=config)
    first, second = server.requests[0].params, server.requests[1].params
    assert re.fullmatch(r"CA[0-9a-f]{32}", first["CallSid"])
    assert first["CallSid"] == second["CallSid"]
    assert first["AccountSid"] == SID
    assert first["From"] == first["Caller"] == "+15551234567"
    assert first["To"] == first["Called"] == "+15005550006"
    assert first["Direction"] == "inbound" and first["ApiVersion"] == "2010-04-01"
    assert first["CallStatus"] == "ringing" and second["CallStatus"] == "in-progress"
    assert "Digits" not in first and second["Digits"] == "5"
    assert of(events, "request")[1]["params"] == second


def test_get_requests_carry_the_parameters_in_the_query_string(server):
    server.routes["/start"] = '<Response><Gather numDigits="1" method="GET" action="/next"/></Response>'
    server.routes["/next"] = "<Response/>"
    simulate(server.url("/start"), "wait:listen dtmf:8")
    req = server.requests[1]
    assert req.method == "GET" and req.params["Digits"] == "8" and "CallSid=" in req.url
