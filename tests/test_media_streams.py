"""Media Streams end to end: `ivrbox simulate` against real local aiohttp
WebSocket agents (firmware_app/stream/agents.py), in real time."""

import base64
import re
import wave

import numpy as np
import pytest

from firmware_app.stream import mulaw
from firmware_app.stream.agents import AUTH_TOKEN, AgentServer
from simulate import of, simulate


@pytest.fixture
def config(config_file):
    return config_file(server={"auth_token": AUTH_TOKEN})


def connect(*params, action="/after", status="/status", name="echo") -> str:
    children = "".join(f'<Parameter name="{k}" value="{v}"/>' for k, v in params)
    return (f'<Response><Connect action="{action}"><Stream url="{{ws}}/media" name="{name}" '
            f'statusCallback="{status}">{children}</Stream></Connect><Say>not reached</Say></Response>')


AFTER = "<Response><Say>after the stream</Say></Response>"


def read_wav(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)


def write_tone(path, seconds: float, hz: float) -> str:
    t = np.arange(int(seconds * 8000)) / 8000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes((np.sin(2 * np.pi * hz * t) * 6000).astype("<i2").tobytes())
    return str(path)


def streamed(path, events, n: int = 0) -> np.ndarray:
    """What the box sent the caller while the Nth stream was open."""
    opens = [round(e["t"] / 0.02) for e in of(events, "stream") if e["action"] == "open"]
    closes = [round(e["t"] / 0.02) for e in of(events, "stream") if e["action"] == "close"]
    return read_wav(path)[opens[n] * 160:closes[n] * 160]


def loud_frames(samples: np.ndarray) -> np.ndarray:
    frames = samples[:len(samples) // 160 * 160].reshape(-1, 160)
    return np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 1000)


def test_echo_agent_hears_the_caller_and_the_caller_hears_it_back(tmp_path, config):
    routes = {"/ivr": connect(("echo", "true"), ("mark_every", "10"), ("close_after_ms", "2500")),
              "/after": AFTER, "/status": "<Response/>"}
    caller = write_tone(tmp_path / "caller.wav", 1.0, 500)
    with AgentServer(routes) as server:
        events = simulate(server.url("/ivr"), f"wait:0.5 wav:{caller}", "--record", str(tmp_path / "box.wav"),
                          config=config, timeout=60)
    seen = server.connections[0]
    assert seen.signed, "X-Twilio-Signature must validate for the ws:// URL"
    messages = [m for _, m in seen.messages]
    assert [int(m["sequenceNumber"]) for m in messages] == list(range(1, len(messages) + 1))
    assert messages[0] == {"event": "connected", "sequenceNumber": "1", "protocol": "Call", "version": "1.0.0"}
    start = messages[1]
    sid = start["streamSid"]
    assert re.fullmatch(r"MZ[0-9a-f]{32}", sid)
    request = server.requests[0].params
    assert start["start"] == {"accountSid": request["AccountSid"], "streamSid": sid, "callSid": request["CallSid"],
                              "tracks": ["inbound"], "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                                                     "channels": 1},
                              "customParameters": {"echo": "true", "mark_every": "10", "close_after_ms": "2500"}}
    media = seen.of("media")
    assert [int(m["media"]["chunk"]) for m in media] == list(range(1, len(media) + 1))
    stamps = [int(m["media"]["timestamp"]) for m in media]
    assert all(b - a == 20 for a, b in zip(stamps, stamps[1:]))
    assert all(m["streamSid"] == sid and m["media"]["track"] == "inbound" for m in media)
    assert {len(base64.b64decode(m["media"]["payload"])) for m in media} == {160}
    # The caller's tone reached the agent...
    heard = np.concatenate([np.frombuffer(mulaw.decode(base64.b64decode(m["media"]["payload"])), "<i2")
                            for m in media]).astype(float)
    assert 45 <= len(loud_frames(heard)) <= 52
    # ...and came back to the caller, a frame or two later.
    box = loud_frames(streamed(tmp_path / "box.wav", events))
    assert abs(len(box) - len(loud_frames(heard))) <= 2
    assert 0 <= box[0] - loud_frames(heard)[0] <= 3
    # Marks come back, in order, after their audio.
    marks = of(events, "stream")[1:-1]
    assert [e["mark"] for e in marks] == [m["mark"]["name"] for m in seen.of("mark")]
    assert [e["mark"] for e in marks][:3] == ["echo-10", "echo-20", "echo-30"]
    assert {e["action"] for e in marks} == {"mark"}
    close = of(events, "stream")[-1]
    assert close["action"] == "close" and close["reason"] == "closed" and close["sid"] == sid
    # A frame the box sent as the agent's close crossed it is read by aiohttp's
    # close() in the agent, which passes it on to nobody.
    assert close["sent"] - len(messages) in (0, 1) and close["received"] == len(seen.sent)
    assert seen.closed == "agent"
    # The stream ended: statusCallback, <Connect action>, and the document goes on from there.
    assert sorted(r.path for r in server.requests) == ["/after", "/ivr", "/status", "/status"]
    assert [r.params["StreamEvent"] for r in server.requests if r.path == "/status"] == [
        "stream-started", "stream-stopped"]
    status = next(r for r in server.requests if r.path == "/status").params
    assert status["StreamSid"] == sid and status["StreamName"] == "echo"
    assert next(r for r in server.requests if r.path == "/after").params["StreamSid"] == sid
    assert [e["text"] for e in of(events, "say")] == ["after the stream"]


def test_marks_wait_for_their_audio_and_clear_cuts_it_off(tmp_path, config):
    routes = {"/ivr": connect(("tone_ms", "800"), ("close_after_ms", "1500"), action="/second"),
              "/second": connect(("tone_ms", "3000"), ("clear_after_ms", "1000"), ("close_after_ms", "1600")),
              "/after": AFTER, "/status": "<Response/>"}
    with AgentServer(routes) as server:
        events = simulate(server.url("/ivr"), "", "--record", str(tmp_path / "box.wav"), "--max-seconds", "8",
                          config=config, timeout=60)
    played, cleared = server.connections
    # The mark after 800 ms of tone comes back once that tone has played.
    (sent_at, _), = [(t, m) for t, m in played.sent if m["event"] == "mark"]
    (back_at, mark), = [(t, m) for t, m in played.messages if m["event"] == "mark"]
    assert mark["mark"]["name"] == "tone"
    assert 0.75 <= back_at - sent_at <= 1.0
    # clear after 1 s of a 3 s tone: the pending mark comes back at once, and the tone stops.
    (sent_at, _), = [(t, m) for t, m in cleared.sent if m["event"] == "mark"]
    (clear_at, _), = [(t, m) for t, m in cleared.sent if m["event"] == "clear"]
    (back_at, _), = [(t, m) for t, m in cleared.messages if m["event"] == "mark"]
    assert 0.9 <= clear_at - sent_at <= 1.1
    assert 0 <= back_at - clear_at <= 0.1
    first = loud_frames(streamed(tmp_path / "box.wav", events, 0))
    second = loud_frames(streamed(tmp_path / "box.wav", events, 1))
    assert 0.75 <= len(first) * 0.02 <= 0.85
    assert 0.85 <= len(second) * 0.02 <= 1.15           # 1 s of the 3 s tone, then silence
    assert [e["reason"] for e in of(events, "stream") if e["action"] == "close"] == ["closed", "closed"]


def test_start_stream_forks_both_tracks_beside_a_gather(config):
    routes = {
        "/ivr": ('<Response><Start><Stream url="{ws}/media" name="fork" track="both_tracks" statusCallback="/status">'
                 '<Parameter name="tone_ms" value="500"/></Stream></Start>'
                 '<Gather numDigits="1" action="/got"><Say>Press a key now please</Say></Gather></Response>'),
        "/got": '<Response><Stop><Stream name="fork"/></Stop><Say>thanks</Say><Pause length="1"/></Response>',
        "/status": "<Response/>",
    }
    with AgentServer(routes) as server:
        events = simulate(server.url("/ivr"), "wait:prompt wait:0.5 dtmf:5", config=config, timeout=60)
    (gather,) = of(events, "gather")
    assert gather["digits"] == "5"
    seen = server.connections[0]
    assert seen.of("start")[0]["start"]["tracks"] == ["inbound", "outbound"]
    media = seen.of("media")
    tracks = {track: [m for m in media if m["media"]["track"] == track] for track in ("inbound", "outbound")}
    assert len(tracks["inbound"]) == len(tracks["outbound"]) > 25

    def loud(ms):
        pcm = np.concatenate([np.frombuffer(mulaw.decode(base64.b64decode(m["media"]["payload"])), "<i2")
                              for m in ms]).astype(float)
        return len(loud_frames(pcm))
    assert loud(tracks["outbound"]) > 10          # the box's <Say>
    assert loud(tracks["inbound"]) >= 1           # the caller's key, until the gather ends
    assert seen.of("dtmf") == []                  # only a bidirectional stream gets dtmf messages
    stop = seen.of("stop")[0]
    assert stop["stop"] == {"accountSid": seen.of("start")[0]["start"]["accountSid"],
                            "callSid": seen.of("start")[0]["start"]["callSid"]}
    # The agent's audio on a one-way stream is not played: the box said only its prompts.
    assert [e["text"] for e in of(events, "say")] == ["Press a key now please", "thanks"]
    order = [e["event"] if e["event"] != "stream" else e["action"] for e in events
             if e["event"] in ("stream", "say", "gather")]
    assert order == ["open", "say", "gather", "close", "say"]
    assert [r.params["StreamEvent"] for r in server.requests if r.path == "/status"] == [
        "stream-started", "stream-stopped"]


def test_caller_hangs_up_mid_stream(config):
    routes = {"/ivr": connect(("echo", "true")), "/after": AFTER, "/status": "<Response/>"}
    with AgentServer(routes) as server:
        events = simulate(server.url("/ivr"), "wait:1 hangup", config=config, timeout=60)
    seen = server.connections[0]
    last = [m for _, m in seen.messages][-1]
    assert last["event"] == "stop" and seen.closed == "box"
    assert of(events, "stream")[-1]["reason"] == "hangup"
    assert events[-1]["event"] == "hangup" and events[-1]["by"] == "caller"
    assert "/after" not in [r.path for r in server.requests]
    assert of(events, "say") == []


def test_server_that_drops_reports_an_error_and_the_document_goes_on(config):
    routes = {"/ivr": connect(("echo", "true"), ("drop_after_ms", "800")), "/after": AFTER,
              "/status": "<Response/>",
              "/plain": connect(("drop_after_ms", "500"), action="").replace("not reached", "still here")}
    with AgentServer(routes) as server:
        events = simulate(server.url("/ivr"), "", config=config, timeout=60)
        plain = simulate(server.url("/plain"), "", config=config, timeout=60)
    (error,) = of(events, "error")
    assert error["code"] == 31921 and "dropped" in error["message"]
    after = next(r for r in server.requests if r.path == "/after").params
    assert after["ErrorCode"] == "31921" and "dropped" in after["ErrorMessage"]
    statuses = [r.params for r in server.requests if r.path == "/status"]
    assert [s["StreamEvent"] for s in statuses] == ["stream-started", "stream-error", "stream-stopped"] * 2
    assert "dropped" in statuses[1]["StreamError"]
    assert [e["text"] for e in of(events, "say")] == ["after the stream"]
    assert [e["text"] for e in of(plain, "say")] == ["still here"]
    assert of(plain, "error")[0]["code"] == 31921


def test_server_that_sends_garbage_gets_warnings_and_the_call_goes_on(tmp_path, config):
    routes = {"/ivr": connect(("garbage", "true"), ("echo", "true"), ("close_after_ms", "1500")),
              "/after": AFTER, "/status": "<Response/>"}
    caller = write_tone(tmp_path / "caller.wav", 0.6, 700)
    with AgentServer(routes) as server:
        events = simulate(server.url("/ivr"), f"wait:0.3 wav:{caller}", "--record", str(tmp_path / "box.wav"),
                          config=config, timeout=60)
    warnings = [(w.get("code"), w["message"]) for w in of(events, "warning")]
    assert [code for code, _ in warnings] == [31950, 31924, 31924, 31924, 31924]
    assert "binary" in warnings[0][1] and "not JSON" in warnings[1][1] and "'dance'" in warnings[2][1]
    assert "payload" in warnings[3][1] and "not a JSON object" in warnings[4][1]
    assert of(events, "error") == []
    assert 28 <= len(loud_frames(streamed(tmp_path / "box.wav", events))) <= 31     # the echo still works
    assert [e["text"] for e in of(events, "say")] == ["after the stream"]


def test_handshake_failure_is_an_error_and_the_document_goes_on(config):
    routes = {"/ivr": '<Response><Connect><Stream url="ws://127.0.0.1:9/media"/></Connect><Say>next</Say></Response>'}
    with AgentServer(routes) as server:
        events = simulate(server.url("/ivr"), "", config=config, timeout=60)
    (error,) = of(events, "error")
    assert error["code"] == 31920 and "handshake" in error["message"]
    assert [e["text"] for e in of(events, "say")] == ["next"]
