"""Bad TwiML and failing servers: a clear error event, and a sane path for the caller."""

from simulate import names, of, simulate

APOLOGY = "We are sorry, an application error has occurred. Goodbye."


def test_a_document_that_does_not_parse_is_error_12100(server):
    server.routes["/start"] = "<Response><Say>unclosed</Response>"
    events = simulate(server.url("/start"))
    error = of(events, "error")[0]
    assert error["code"] == 12100 and "parse" in error["message"]
    assert [e["text"] for e in of(events, "say")] == [APOLOGY]
    assert events[-1]["event"] == "hangup"


def test_a_wrong_root_element_is_error_12100(server):
    server.routes["/start"] = "<html><body>oops</body></html>"
    events = simulate(server.url("/start"))
    assert of(events, "error")[0]["code"] == 12100
    assert "<Response>" in of(events, "error")[0]["message"]


def test_an_http_404_is_error_11200_and_gets_the_apology(server):
    server.routes["/start"] = (404, {}, "gone")
    events = simulate(server.url("/start"))
    assert of(events, "error")[0]["code"] == 11200 and "404" in of(events, "error")[0]["message"]
    assert [e["text"] for e in of(events, "say")] == [APOLOGY]


def test_an_http_500_is_error_11200_and_the_server_is_not_down(server):
    """The server got the request: as Twilio, the apology, never the offline flow (issue 9)."""
    server.routes["/start"] = (500, {}, "boom")
    events = simulate(server.url("/start"), "wait:listen dtmf:0")
    assert of(events, "error")[0]["code"] == 11200
    assert [e["text"] for e in of(events, "say")] == [APOLOGY]


def test_a_refused_connection_is_error_11205(server):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    events = simulate(f"http://127.0.0.1:{port}/start")
    assert of(events, "error")[0]["code"] == 11205


def test_the_fallback_url_gets_error_code_and_url(server, config_file):
    server.routes["/start"] = "not xml at all"
    server.routes["/fallback"] = "<Response><Say>Fallback speaking</Say></Response>"
    config = config_file(server={"fallback_url": server.url("/fallback")})
    events = simulate(server.url("/start"), config=config)
    fallback = server.requests[1]
    assert fallback.path == "/fallback" and fallback.method == "POST"
    assert fallback.params["ErrorCode"] == "12100" and fallback.params["ErrorUrl"] == server.url("/start")
    assert [e["text"] for e in of(events, "say")] == ["Fallback speaking"]


def test_a_failing_fallback_still_apologises_and_hangs_up(server, config_file):
    server.routes["/start"] = (503, {}, "")
    config = config_file(server={"fallback_url": server.url("/missing-fallback")})
    events = simulate(server.url("/start"), config=config)
    assert [e["code"] for e in of(events, "error")] == [11200, 11200]
    assert of(events, "say")[-1]["text"] == APOLOGY


def test_unknown_verbs_and_attributes_warn_and_the_call_goes_on(server):
    server.routes["/start"] = ('<Response><Dance>+15551234</Dance><Say colour="blue">still here</Say>'
                               '<Gather numDigits="x" timeout="1"/></Response>')
    events = simulate(server.url("/start"))
    messages = " | ".join(e["message"] for e in of(events, "warning"))
    assert "<Dance> is not supported" in messages
    assert "'colour'" in messages
    assert "numDigits='x'" in messages
    assert of(events, "say")[0]["text"] == "still here"
    assert of(events, "gather")[0]["input"] == "none"


def test_external_entities_and_entity_bombs_are_refused(server):
    server.routes["/xxe"] = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                             "<Response><Say>&x;</Say></Response>")
    server.routes["/bomb"] = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                              '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                              '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                              "<Response><Say>&lol3;</Say></Response>")
    for path in ("/xxe", "/bomb"):
        events = simulate(server.url(path))
        assert of(events, "error")[0]["code"] == 12100, path
        assert [e["text"] for e in of(events, "say")] == [APOLOGY]


def test_a_redirect_loop_with_no_audio_is_stopped(server):
    server.routes["/start"] = "<Response><Redirect>/start</Redirect></Response>"
    events = simulate(server.url("/start"), timeout=60)
    assert "redirect loop" in of(events, "error")[0]["message"]
    assert events[-1]["event"] == "hangup"


def test_reject_ends_the_call_without_answering(server):
    server.routes["/start"] = '<Response><Reject reason="busy"/><Say>never</Say></Response>'
    events = simulate(server.url("/start"))
    assert names(events) == ["request", "hangup"]
    assert events[-1]["reason"] == "busy" and events[-1]["by"] == "box"


def test_a_bad_caller_script_is_a_clear_usage_error(server):
    import subprocess

    from simulate import IVRBOX

    proc = subprocess.run([IVRBOX, "simulate", server.url("/x"), "--caller", "dance:3"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown step 'dance:3'" in proc.stderr
