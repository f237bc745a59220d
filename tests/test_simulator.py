"""The simulator's own contract: caller steps, max seconds, recording, speech without a model."""

import subprocess
import wave

import numpy as np

from firmware_app.listen.tones import dtmf_audio
from simulate import IVRBOX, of, simulate


def test_wav_step_plays_a_file_into_the_line_through_the_detector(server, tmp_path):
    # a 44.1 kHz stereo file: the simulator resamples it like any caller audio
    path = tmp_path / "keys.wav"
    subprocess.run(["sox", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", "-",
                    "-r", "44100", "-c", "2", str(path)], input=dtmf_audio("73").tobytes(), check=True)
    server.routes["/g"] = '<Response><Gather numDigits="2" action="/g2"/></Response>'
    server.routes["/g2"] = "<Response/>"
    events = simulate(server.url("/g"), f"wav:{path}")
    assert of(events, "gather")[0]["digits"] == "73"


def test_a_missing_wav_is_a_clear_error_before_the_call(server, tmp_path):
    proc = subprocess.run([IVRBOX, "simulate", server.url("/g"), "--caller", f"wav:{tmp_path}/nope.wav"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert f"wav:{tmp_path}/nope.wav: No such file or directory" in proc.stderr
    assert proc.stdout == ""
    (tmp_path / "text.wav").write_text("not audio")
    proc = subprocess.run([IVRBOX, "simulate", server.url("/g"), "--caller", f"wav:{tmp_path}/text.wav"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "cannot decode the audio" in proc.stderr


def test_max_seconds_hangs_up_as_the_caller(server):
    server.routes["/long"] = '<Response><Pause length="100"/></Response>'
    events = simulate(server.url("/long"), "", "--max-seconds", "7")
    assert events[-1]["event"] == "hangup" and events[-1]["by"] == "caller"
    assert events[-1]["t"] == 7.0


def test_record_writes_the_box_audio(server, tmp_path):
    server.routes["/s"] = "<Response><Say>Recording test</Say><Pause length='1'/></Response>"
    record = tmp_path / "out.wav"
    events = simulate(server.url("/s"), "", "--record", str(record))
    with wave.open(str(record)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        seconds = w.getnframes() / 8000
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert abs(seconds - events[-1]["t"]) <= 0.04
    assert np.abs(audio[: int(0.5 * 8000)]).max() > 1000  # speech at the start
    assert np.abs(audio[-4000:]).max() == 0  # the pause is silent


def test_speech_gather_without_a_model_warns_and_still_takes_dtmf(server):
    server.routes["/s"] = ('<Response><Gather input="dtmf speech" numDigits="1" action="/next">'
                           "<Say>Say sales or press 1</Say></Gather></Response>")
    server.routes["/next"] = "<Response/>"
    events = simulate(server.url("/s"), "wait:listen say:'sales please' dtmf:1")
    warning = of(events, "warning")[0]["message"]
    assert "speech input unavailable" in warning and "en-US" in warning
    assert of(events, "gather")[0] | {"t": 0} == {"t": 0, "event": "gather", "input": "dtmf", "digits": "1",
                                                   "speech_result": "", "confidence": None}
    assert server.requests[1].params["Digits"] == "1"


def test_a_speech_only_gather_without_a_model_behaves_as_no_input(server):
    server.routes["/s"] = '<Response><Gather input="speech" timeout="2"/><Say>No input</Say></Response>'
    events = simulate(server.url("/s"), "wait:listen say:'hello'")
    assert of(events, "gather")[0]["input"] == "none"
    assert of(events, "say")[-1]["text"] == "No input"
