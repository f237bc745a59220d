"""<Say>, <Play>, <Pause>, <Hangup> through the simulator."""

import io
import subprocess
import wave

import numpy as np

from simulate import of, simulate


def tone_wav(seconds=0.5, rate=44100, freq=440.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def test_say_loops_and_takes_time(server):
    server.routes["/s"] = '<Response><Say loop="3" voice="woman" language="en-GB">Hello there</Say></Response>'
    events = simulate(server.url("/s"))
    says = of(events, "say")
    assert len(says) == 3
    assert says[0] | {"t": 0} == {"t": 0, "event": "say", "text": "Hello there", "voice": "woman", "language": "en-GB"}
    assert says[1]["t"] - says[0]["t"] > 0.5


def test_say_in_a_language_espeak_lacks_warns_and_speaks_english(server):
    server.routes["/s"] = '<Response><Say language="xx-YY">Bonjour</Say></Response>'
    events = simulate(server.url("/s"))
    assert "no espeak-ng voice for language 'xx-YY'" in of(events, "warning")[0]["message"]
    assert of(events, "say")[0]["text"] == "Bonjour"


def test_pause_advances_call_time(server):
    server.routes["/p"] = '<Response><Pause length="3"/><Say>after</Say></Response>'
    events = simulate(server.url("/p"))
    assert of(events, "pause")[0]["seconds"] == 3
    assert of(events, "say")[0]["t"] >= 3.0


def test_play_fetches_decodes_and_plays_wav_and_mp3(server, tmp_path):
    wav = tone_wav()
    mp3_path = tmp_path / "tone.mp3"
    (tmp_path / "tone.wav").write_bytes(wav)
    subprocess.run(["sox", str(tmp_path / "tone.wav"), str(mp3_path)], check=True)
    server.routes.update({
        "/p": '<Response><Play loop="2">/tone.wav</Play><Play>/tone.mp3</Play><Say>done</Say></Response>',
        "/tone.wav": (200, {"Content-Type": "audio/wav"}, wav),
        "/tone.mp3": (200, {"Content-Type": "audio/mpeg"}, mp3_path.read_bytes()),
    })
    record = tmp_path / "box.wav"
    events = simulate(server.url("/p"), "", "--record", str(record))
    plays = of(events, "play")
    assert [p["url"] for p in plays] == [server.url("/tone.wav")] * 2 + [server.url("/tone.mp3")]
    assert plays[1]["t"] - plays[0]["t"] == 0.5
    with wave.open(str(record)) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    first = audio[800:3200].astype(float)  # inside the first play
    peak = np.argmax(np.abs(np.fft.rfft(first))) * 8000 / len(first)
    assert abs(peak - 440) < 10


def test_play_of_an_html_page_is_a_clear_error_and_the_call_goes_on(server):
    server.routes.update({
        "/p": "<Response><Play>/page</Play><Say>still here</Say></Response>",
        "/page": (200, {"Content-Type": "text/html"}, "<!DOCTYPE html><html><body>Not found</body></html>"),
    })
    events = simulate(server.url("/p"))
    error = of(events, "error")[0]
    assert error["code"] == 12300 and "HTML" in error["message"]
    assert of(events, "say")[0]["text"] == "still here"


def test_play_digits_sends_tones_the_detector_hears(server, tmp_path):
    from firmware_app.listen.dtmf import DtmfDetector

    server.routes["/d"] = '<Response><Play digits="w12#w9"/></Response>'
    record = tmp_path / "box.wav"
    events = simulate(server.url("/d"), "", "--record", str(record))
    assert of(events, "play")[0]["digits"] == "w12#w9"
    with wave.open(str(record)) as w:
        pcm = w.readframes(w.getnframes())
    detector = DtmfDetector()
    heard = "".join(detector.feed(pcm[i:i + 320].ljust(320, b"\0")) for i in range(0, len(pcm), 320))
    assert heard == "12#9"


def test_hangup_ends_the_call_and_skips_the_rest(server):
    server.routes["/h"] = "<Response><Say>bye</Say><Hangup/><Say>never</Say></Response>"
    events = simulate(server.url("/h"))
    assert [e["text"] for e in of(events, "say")] == ["bye"]
    assert events[-1]["event"] == "hangup" and events[-1]["by"] == "box"


def test_caller_hangup_mid_prompt_ends_the_call(server):
    server.routes["/h"] = "<Response><Say>A long prompt that the caller will not wait for at all</Say></Response>"
    events = simulate(server.url("/h"), "wait:1 hangup")
    assert events[-1]["event"] == "hangup" and events[-1]["by"] == "caller"
    assert events[-1]["t"] == 1.0 or abs(events[-1]["t"] - 1.0) <= 0.04
