"""The verb registry: hostile attribute values through the simulator, and a verb
added from this test module alone, which the parser, interpreter, lint and the
cache crawl all pick up."""

import asyncio
from dataclasses import dataclass, field

import pytest

from firmware_app.twiml.lint import Context, check
from firmware_app.twiml.parse import parse
from firmware_app.twiml.schema import Choice, Url
from firmware_app.twiml.verbs import CONTINUE, Follow, Verb, lookup, register, unregister
from simulate import of, simulate


@pytest.mark.parametrize("element, warning", [
    ('<Pause length="NaN"/>', "<Pause length='NaN'> is not a finite number; using 1.0"),
    ('<Pause length="inf"/>', "<Pause length='inf'> is not a finite number; using 1.0"),
    ('<Pause length="1e400"/>', "<Pause length='1e400'> is not a finite number; using 1.0"),
    ('<Pause length="-2"/>', "<Pause length='-2'> must be at least 0; using 1.0"),
    ('<Say loop="1e3">x</Say>', "<Say loop='1e3'> is not an integer; using 1"),
    ('<Gather timeout="inf"/>', "<Gather timeout='inf'> is not a finite number; using 5.0"),
    ('<Gather speechTimeout="NaN"/>', "<Gather speechTimeout='NaN'> is not a finite number; using None"),
    ('<Gather timeout="-inf"/>', "<Gather timeout='-inf'> is not a finite number; using 5.0"),
    ('<Play loop="nan" digits="1"/>', "<Play loop='nan'> is not an integer; using 1"),
    ('<Say loop="99999999999"/>', "<Say> has no text"),  # a loop that plays nothing must not spin
])
def test_hostile_values_warn_use_the_default_and_the_call_goes_on(server, element, warning):
    server.routes["/h"] = f"<Response><Say>before</Say>{element}<Say>after</Say></Response>"
    events = simulate(server.url("/h"))
    says = [s["text"] for s in of(events, "say")]
    assert says[0] == "before" and says[-1] == "after"
    assert any(warning in w["message"] for w in of(events, "warning")), of(events, "warning")
    assert of(events, "error") == []
    assert events[-1]["event"] == "hangup"


@pytest.mark.parametrize("loop", ["0", "99999999999"])
def test_a_looped_play_that_fails_is_one_error_and_the_call_goes_on(server, loop):
    server.routes["/h"] = f'<Response><Say>before</Say><Play loop="{loop}">/missing.wav</Play><Say>after</Say></Response>'
    events = simulate(server.url("/h"))
    assert [s["text"] for s in of(events, "say")] == ["before", "after"]
    assert [e["code"] for e in of(events, "error")] == [11200]


def test_a_non_ascii_path_is_percent_encoded_and_fetched(server):
    server.routes["/start"] = "<Response><Say>before</Say><Redirect>/café</Redirect></Response>"
    server.routes["/caf%C3%A9"] = "<Response><Say>in the cafe</Say></Response>"
    events = simulate(server.url("/start"))
    assert [s["text"] for s in of(events, "say")] == ["before", "in the cafe"]
    assert of(events, "request")[1]["url"] == server.url("/caf%C3%A9")


@pytest.mark.parametrize("element, warning", [
    ('<Redirect>http://[::1/x</Redirect>', "<Redirect>http://[::1/x</Redirect> is not a valid URL: Invalid IPv6 URL"),
    (f'<Redirect>http://{"a" * 64}.example.com/x</Redirect>', "host name part over 63 characters"),
])
def test_a_malformed_redirect_warns_at_parse_and_fails_alone_with_11100(server, element, warning):
    """The verbs before it still play; the request that cannot be built is Twilio's 11100, then the apology."""
    server.routes["/h"] = f"<Response><Say>before</Say>{element}<Say>never</Say></Response>"
    events = simulate(server.url("/h"))
    says = [s["text"] for s in of(events, "say")]
    assert says[0] == "before" and "never" not in says and says[-1].startswith("We are sorry")
    assert any(warning in w["message"] and "11100" in w["message"] for w in of(events, "warning"))
    assert [e["code"] for e in of(events, "error")] == [11100]
    assert not of(events, "queued")
    assert events[-1]["event"] == "hangup"


def test_a_malformed_play_url_is_that_files_failure_and_the_call_goes_on(server):
    server.routes["/h"] = "<Response><Say>before</Say><Play>http://[::1/a.wav</Play><Say>after</Say></Response>"
    events = simulate(server.url("/h"))
    assert [s["text"] for s in of(events, "say")] == ["before", "after"]
    assert any("<Play>http://[::1/a.wav</Play> is not a valid URL" in w["message"] for w in of(events, "warning"))
    assert [e["code"] for e in of(events, "error")] == [11100]


def test_a_bad_gather_action_is_11100_for_that_request_and_the_caller_hears_the_apology(server):
    server.routes["/g"] = '<Response><Gather numDigits="1" action="http://[::1/x"/></Response>'
    events = simulate(server.url("/g"), "wait:listen dtmf:3")
    assert of(events, "gather")[0]["digits"] == "3"
    assert [e["code"] for e in of(events, "error")] == [11100]
    assert not of(events, "queued")
    assert of(events, "say")[-1]["text"].startswith("We are sorry")


@dataclass
class Chime(Verb):
    """A verb registered by this test module only: says a note, then follows ``next``."""

    tag = "Chime"
    attributes = (Choice("note", "c", choices=("c", "e", "g")), Url("next", follow="twiml", method="method"),
                  Choice("method", "POST", choices=("GET", "POST")))
    nests = ("Say",)

    note: str = "c"
    next: str = ""
    method: str = "POST"
    children: list = field(default_factory=list)

    async def run(self, ch):
        for child in self.children:
            await child.run(ch)
        ch.emit("chime", note=self.note)
        await ch.pause(0.5)
        return Follow(self.next, self.method, {"Chimed": self.note}, caller_input=True) if self.next else CONTINUE


@pytest.fixture
def chime():
    register(Chime)
    yield Chime
    unregister("Chime")


def test_a_verb_from_one_module_parses_runs_lints_and_crawls(chime, server, tmp_path):
    from drivers.sim import SimLine
    from firmware_app.call import Call
    from firmware_app.commands.cache import links
    from firmware_app.config import load
    from firmware_app.web import build_fetcher

    server.routes["/c"] = ('<Response><Chime note="g" next="/after" volume="11"><Say>ding</Say></Chime>'
                           '<Say>never</Say></Response>')
    server.routes["/after"] = '<Response><Chime note="x"/></Response>'
    doc = parse(server.routes["/c"], server.url("/c"))
    assert lookup("Chime") is Chime and doc.verbs[0].line == 1
    assert [(link.kind, link.url) for link in links(doc)] == [("twiml", server.url("/after"))]

    config = load(None)
    config["server"]["url"] = server.url("/c")
    config["cache"]["dir"] = str(tmp_path / "cache")
    events = []
    line = SimLine(script="")
    call = Call(line, config, fetcher=build_fetcher(config), sinks=[events.append])

    async def main():
        await call.run(await line.wait_for_call())

    asyncio.run(main())
    assert [e["event"] for e in events if e["event"] in ("say", "chime")] == ["say", "chime", "chime"]
    assert [e["note"] for e in of(events, "chime")] == ["g", "c"]
    assert "<Chime> attribute 'volume' is not supported" in of(events, "warning")[0]["message"]
    assert "<Chime note='x'> must be one of c, e, g; using 'c'" in of(events, "warning")[1]["message"]
    assert server.requests[1].params["Chimed"] == "g"
    assert [(f.line, f.level, f.message) for f in check('<Response>\n<Chime note="q"/></Response>', "http://h/",
                                                          Context())] == [
        (2, "error", "<Chime note='q'> must be one of c, e, g; using 'c'")]
    assert of(events, "chime")[1]["t"] - of(events, "chime")[0]["t"] >= 0.5


def test_an_unregistered_verb_is_skipped_with_a_warning():
    doc = parse("<Response><Chime/><Say>x</Say></Response>", "http://h/")
    assert [v.tag for v in doc.verbs] == ["Say"]
    assert doc.warnings[0].message == "<Chime> is not supported in <Response>; skipped"
