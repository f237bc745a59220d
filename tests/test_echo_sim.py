"""The echo canceller on the real call path: `ivrbox simulate` over a hybrid
echo path at 6 dB return loss and 20 ms, with the real Vosk Korean model
and the box's own Korean prompts (espeak-ng) and `<Play digits>` tones.

With the canceller on, a silent caller's gathers hear nothing of the box's
own voice, and a caller's speech and keys still barge in. With it off
(`--canceller off`) the same calls fail, which is what the canceller is for.
"""


import pytest

from bench.twiml_server import TwimlServer
from echo_flows import KO_MODEL, PROMPT, gather
from simulate import of, simulate

ECHO = ("--line-echo", "6dB,20ms")

ROUTES = {
    # a speech gather whose prompt its own echo could cut
    "/speech": gather("/digits", PROMPT, input="speech dtmf", speechTimeout="auto", hints="예약, 네, 아니요"),
    # the echo of <Play digits> would be the caller's keys
    "/digits": gather("/end", '<Play digits="w1234#"/>', input="dtmf", numDigits="4"),
    "/end": "<Response><Hangup/></Response>",
}


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("echo") / "config.toml"
    path.write_text(f'[speech.models]\n"ko-KR" = "{KO_MODEL}"\n')
    return str(path)


def call(config, caller: str, *options: str):
    with TwimlServer(dict(ROUTES)) as server:
        events = simulate(server.url("/speech"), caller, "--max-seconds", "40", *options,
                          config=config, timeout=180)
        return events, {r.path: r.params for r in server.requests}


@pytest.fixture(scope="module")
def silent_on(config):
    return call(config, "", *ECHO)


@pytest.fixture(scope="module")
def silent_off(config):
    return call(config, "", *ECHO, "--canceller", "off")


def test_a_silent_callers_prompt_is_not_cut_by_its_echo(silent_on):
    events, params = silent_on
    assert not of(events, "interrupted")
    first = of(events, "gather")[0]
    assert first["input"] == "none" and first["speech_result"] == ""
    assert params["/digits"].get("SpeechResult", "") == "" and params["/digits"]["Digits"] == ""


def test_play_digits_echo_is_not_heard_as_keys(silent_on):
    events, params = silent_on
    second = of(events, "gather")[1]
    assert second["input"] == "none" and second["digits"] == ""
    assert params["/end"].get("Digits", "") == ""


def test_without_the_canceller_the_echo_cuts_the_prompt_and_leaks_keys(silent_off):
    events, params = silent_off
    assert [e["verb"] for e in of(events, "interrupted")] == ["Say", "Play"]
    assert of(events, "interrupted")[0]["t"] < 1.0  # cut as soon as its echo is heard
    assert params["/end"]["Digits"]  # the echoed tones arrived as the caller's keys


def prompt_cut(events) -> float:
    """How far into the first <Say> the caller cut it off."""
    cut = of(events, "interrupted")
    assert cut and cut[0]["verb"] == "Say", events
    return cut[0]["t"] - of(events, "say")[0]["t"]


@pytest.mark.parametrize("into", [1.0, 3.0])
def test_a_caller_speaking_over_the_echo_barges_in_and_is_understood(config, into):
    """A second into the call the canceller is still learning and its NLP mutes
    much of the caller with the echo; the recognizer hears the filter's output
    unmuted (``Heard.linear``) once voice activity has found the caller."""
    events, params = call(config, f"wait:prompt wait:{into} say@ko-KR:'예약'", *ECHO)
    assert 0.0 < prompt_cut(events) - into < 0.4
    assert params["/digits"]["SpeechResult"] == "예약"


def test_a_callers_keys_over_the_echo_barge_in(config):
    events, params = call(config, "wait:prompt wait:1.5 dtmf:5 wait:prompt wait:listen dtmf:9876", *ECHO)
    assert 0.0 < prompt_cut(events) - 1.5 < 0.2
    assert params["/digits"]["Digits"] == "5"
    assert params["/end"]["Digits"] == "9876"


@pytest.mark.parametrize("url, on", [
    ("modem:///dev/ttyACM0", True), ("modem:///dev/ttyACM0?echo=off", False),
    ("sound://USB?hook=GPIO17&ring=GPIO27", True), ("sound://USB?hook=GPIO17&echo=off", False),
    ("sound://USB", False), ("sound://USB?echo=on&echo_tail=128&echo_delay=40", True),
    ("sim:", False), ("sim:?echo=6dB,20ms", True), ("sim:?echo=6dB,20ms&canceller=off", False)])
def test_the_canceller_is_on_by_default_on_two_wire_lines(url, on):
    from gpiozero.pins.mock import MockFactory

    from drivers import open_line

    if url.startswith("sound"):  # its canceller is built as the first call is answered
        assert (open_line(url, pin_factory=MockFactory()).echo is not None) == on
    elif url.startswith("modem"):  # the same
        assert (open_line(url).echo is not None) == on
    else:
        assert (open_line(url).canceller is not None) == on


def test_bad_canceller_options_are_clear_errors():
    from drivers import LineError, open_line

    with pytest.raises(LineError, match="modem option echo='yes' must be one of on, off"):
        open_line("modem:///dev/ttyACM0?echo=yes")
    with pytest.raises(LineError, match="modem option echo_tail='5000' must be at most 1000"):
        open_line("modem:///dev/ttyACM0?echo_tail=5000")
    with pytest.raises(LineError, match="impairment echo: 'loud' is not a number of dB"):
        open_line("sim:?echo=loud")


@pytest.mark.parametrize("options, message", [
    (["--impair", "bogus=1"], "--impair: unknown impairment 'bogus'"),
    (["--line-echo", "loud"], "impairment echo: 'loud' is not a number of dB"),
    (["--codec", "opus"], "unknown codec 'opus'"),
    (["--canceller", "maybe"], "invalid choice: 'maybe'"),
])
def test_bad_impairment_options_are_clear_errors(options, message):
    import subprocess

    from simulate import IVRBOX

    proc = subprocess.run([IVRBOX, "simulate", "flows:/", *options], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
