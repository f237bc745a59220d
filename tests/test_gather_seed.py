"""The seed page's <Gather> behaviours, each as a whole call through `ivrbox simulate`
against a real local HTTP server."""

import pytest

from simulate import of, simulate

COMPLEX = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Gather>
        <Say>Please enter your account number, followed by the pound sign</Say>
    </Gather>
    <Say>We didn't receive any input. Goodbye!</Say>
</Response>"""

WITH_ACTION = """<Response>
    <Gather action="/process_gather.php" method="GET">
        <Say>Please enter your account number, followed by the pound sign</Say>
    </Gather>
    <Say>We didn't receive any input. Goodbye!</Say>
</Response>"""

READ_BACK = lambda rec: f"<Response><Say>You entered {rec.params.get('Digits', 'nothing')}</Say></Response>"


def run(server, routes, caller, *args, start="/complex_gather.xml", **kw):
    server.routes.update(routes)
    return simulate(server.url(start), caller, "--max-seconds", "60", *args, **kw)


def prompt_start(events, text_start="Please enter"):
    """The say event of the nested prompt, stamped when it began playing."""
    return next(e for e in of(events, "say") if e["text"].startswith(text_start))


def test_scenario_1_silence_falls_through_to_next_verb(server):
    events = run(server, {"/complex_gather.xml": COMPLEX}, "")
    says = [e["text"] for e in of(events, "say")]
    assert says == ["Please enter your account number, followed by the pound sign",
                    "We didn't receive any input. Goodbye!"]
    assert of(events, "gather")[0]["input"] == "none"
    assert len(server.requests) == 1
    assert events[-1]["event"] == "hangup" and events[-1]["by"] == "box"


def test_scenario_1_pound_alone_falls_through(server):
    events = run(server, {"/complex_gather.xml": COMPLEX}, "wait:listen dtmf:#")
    assert of(events, "gather")[0]["input"] == "none"
    assert of(events, "say")[-1]["text"] == "We didn't receive any input. Goodbye!"
    assert len(server.requests) == 1


def test_scenario_2_key_interrupts_the_nested_say(server):
    events = run(server, {"/complex_gather.xml": COMPLEX}, "wait:prompt wait:1 dtmf:1 wait:0.5 dtmf:2#")
    interrupted = of(events, "interrupted")
    assert interrupted and interrupted[0]["verb"] == "Say"
    say = prompt_start(events)
    assert 1.0 < interrupted[0]["t"] - say["t"] < 1.2
    assert server.requests[1].params["Digits"] == "12"


def test_scenario_3_digits_then_pound_resubmit_to_the_same_document(server):
    events = run(server, {"/complex_gather.xml": COMPLEX}, "wait:listen dtmf:12345# hangup")
    assert [r.path for r in server.requests] == ["/complex_gather.xml", "/complex_gather.xml"]
    assert server.requests[1].method == "POST"
    assert server.requests[1].params["Digits"] == "12345"
    assert of(events, "gather")[0]["digits"] == "12345"
    assert events[-1] == {**events[-1], "event": "hangup", "by": "caller"}


def test_scenario_3_digits_then_timeout_submit_after_five_seconds(server):
    events = run(server, {"/complex_gather.xml": COMPLEX}, "wait:listen dtmf:12345 wait:8 hangup")
    assert of(events, "gather")[0]["digits"] == "12345"
    assert [r.path for r in server.requests] == ["/complex_gather.xml", "/complex_gather.xml"]
    assert server.requests[1].params["Digits"] == "12345"


def test_the_timeout_counts_five_seconds_from_the_last_key(server):
    # No prompt: listening starts with the call. Five keys of 100 ms tone and
    # 100 ms gap: the last is heard about 0.85 s in, then 5 s of timeout.
    events = run(server, {"/complex_gather.xml": "<Response><Gather/></Response>"}, "dtmf:12345 wait:8 hangup")
    gather = of(events, "gather")[0]
    assert gather["digits"] == "12345"
    assert gather["t"] == pytest.approx(0.85 + 5.0, abs=0.1)


def test_action_and_method_send_digits_to_the_action(server):
    events = run(server, {"/complex_gather.xml": WITH_ACTION, "/process_gather.php": READ_BACK},
                 "wait:listen dtmf:42#")
    req = server.requests[1]
    assert (req.method, req.path, req.params["Digits"]) == ("GET", "/process_gather.php", "42")
    assert of(events, "say")[-1]["text"] == "You entered 42"
    assert of(events, "request")[1]["url"].startswith(server.url("/process_gather.php?"))


def test_the_timeout_starts_after_the_nested_verbs(server):
    doc = '<Response><Gather timeout="3"><Say>One two three four five six seven</Say><Pause length="2"/></Gather></Response>'
    events = run(server, {"/complex_gather.xml": doc}, "")
    pause = of(events, "pause")[0]
    gather = of(events, "gather")[0]
    assert gather["t"] == pytest.approx(pause["t"] + 2 + 3, abs=0.05)


@pytest.mark.parametrize("finish, keys, digits", [
    ("*", "123*", "123"),
    ("5", "12534", "12"),
    ("#", "98#", "98"),
])
def test_finish_on_key_submits_at_once_without_the_key(server, finish, keys, digits):
    doc = f'<Response><Gather finishOnKey="{finish}" timeout="4" action="/done"/></Response>'
    events = run(server, {"/complex_gather.xml": doc, "/done": READ_BACK}, f"wait:listen dtmf:{keys} wait:10")
    gather = of(events, "gather")[0]
    assert gather["digits"] == digits
    assert server.requests[1].params["Digits"] == digits
    assert gather["t"] < 4.0  # submitted by the key, not by the timeout


def test_empty_finish_on_key_makes_every_key_a_digit_and_only_timeout_ends(server):
    doc = '<Response><Gather finishOnKey="" timeout="2" action="/done"/></Response>'
    events = run(server, {"/complex_gather.xml": doc, "/done": READ_BACK}, "wait:listen dtmf:12#*")
    gather = of(events, "gather")[0]
    assert gather["digits"] == "12#*"
    assert gather["t"] == pytest.approx(0.65 + 2.0, abs=0.1)  # the 4th key starts at 0.6 s


def test_num_digits_submits_the_moment_the_last_digit_arrives(server):
    doc = '<Response><Gather numDigits="5" timeout="5" action="/zip"/></Response>'
    events = run(server, {"/complex_gather.xml": doc, "/zip": READ_BACK}, "wait:listen dtmf:94117 wait:10")
    gather = of(events, "gather")[0]
    assert gather["digits"] == "94117"
    assert gather["t"] < 1.2  # five keys of 200 ms; no timeout waited
    assert server.requests[1].params["Digits"] == "94117"
    assert of(events, "say")[-1]["text"] == "You entered 94117"


def test_action_on_empty_result_posts_even_without_input(server):
    doc = ('<Response><Gather actionOnEmptyResult="true" action="/gather-action" timeout="2">'
           '<Say>Please enter your account number</Say></Gather>'
           "<Say>We didn't receive any input. Goodbye!</Say></Response>")
    events = run(server, {"/complex_gather.xml": doc, "/gather-action": READ_BACK}, "")
    assert [r.path for r in server.requests] == ["/complex_gather.xml", "/gather-action"]
    assert server.requests[1].params["Digits"] == ""
    assert "We didn't receive any input. Goodbye!" not in [e["text"] for e in of(events, "say")]


def test_redirect_after_gather_runs_on_timeout(server):
    doc = ('<Response><Gather action="/process_gather.php" method="GET" timeout="2"><Say>Enter it</Say></Gather>'
           '<Redirect method="GET">/process_gather.php?Digits=TIMEOUT</Redirect></Response>')
    events = run(server, {"/complex_gather.xml": doc, "/process_gather.php": READ_BACK}, "")
    req = server.requests[1]
    assert (req.method, req.path, req.params["Digits"]) == ("GET", "/process_gather.php", "TIMEOUT")
    assert of(events, "say")[-1]["text"] == "You entered TIMEOUT"


def test_3xx_is_followed_without_resending_digits(server):
    doc = '<Response><Gather numDigits="2" action="/moved"/></Response>'
    routes = {"/complex_gather.xml": doc, "/moved": (302, {"Location": "/new-home"}, ""), "/new-home": READ_BACK}
    events = run(server, routes, "wait:listen dtmf:77")
    assert [(r.method, r.path) for r in server.requests[1:]] == [("POST", "/moved"), ("GET", "/new-home")]
    assert server.requests[1].params["Digits"] == "77"
    assert "Digits" not in server.requests[2].params
    assert of(events, "say")[-1]["text"] == "You entered nothing"


def test_after_input_the_rest_of_the_document_is_unreachable(server):
    doc = '<Response><Gather numDigits="1" action="/next"/><Say>unreachable</Say></Response>'
    events = run(server, {"/complex_gather.xml": doc, "/next": "<Response><Say>next</Say></Response>"}, "wait:listen dtmf:1")
    assert [e["text"] for e in of(events, "say")] == ["next"]


def test_relative_urls_resolve_against_the_document(server):
    doc = '<Response><Gather numDigits="1" action="step2"/></Response>'
    events = run(server, {"/app/start": doc, "/app/step2": READ_BACK}, "wait:listen dtmf:9", start="/app/start")
    assert server.requests[1].path == "/app/step2"
    assert of(events, "say")[-1]["text"] == "You entered 9"


def test_default_action_is_the_current_document_by_post(server):
    doc = '<Response><Gather numDigits="1"/></Response>'
    run(server, {"/complex_gather.xml": doc}, "wait:listen dtmf:4 hangup")
    assert (server.requests[1].method, server.requests[1].path) == ("POST", "/complex_gather.xml")


def test_keypad_presses_count_like_in_band_tones(server):
    doc = '<Response><Gather numDigits="3" action="/done"/></Response>'
    events = run(server, {"/complex_gather.xml": doc, "/done": READ_BACK}, "wait:listen key:12 dtmf:3")
    assert of(events, "gather")[0]["digits"] == "123"


def test_keys_pressed_after_the_gather_falls_through_are_not_used(server):
    doc = '<Response><Gather timeout="1"/><Pause length="2"/><Gather numDigits="1" timeout="3" action="/done"/></Response>'
    events = run(server, {"/complex_gather.xml": doc, "/done": READ_BACK}, "wait:1.5 dtmf:5 wait:listen dtmf:6")
    assert [g["digits"] for g in of(events, "gather")] == ["", "6"]
