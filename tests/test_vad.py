"""Speech start/end events from webrtcvad on real espeak-ng speech."""

import numpy as np
import pytest

from bench.dtmf_corpus import speech
from firmware_app.speak.audio import frames
from firmware_app.listen.vad import VoiceActivity


def events(vad, pcm):
    return [(i, ev) for i, f in enumerate(frames(pcm)) if (ev := vad.feed(f.tobytes()))]


@pytest.fixture(scope="module")
def talk():
    """One second of silence, speech, then two seconds of silence."""
    words = speech("en-us")
    return np.concatenate([np.zeros(8000, np.int16), words, np.zeros(16000, np.int16)]), len(words)


def test_speech_gives_start_then_end(talk):
    pcm, n = talk
    evs = events(VoiceActivity(aggressiveness=2, hangover_ms=300, onset_ms=60), pcm)
    assert evs[0][1] == "start" and evs[-1][1] == "end"
    assert 50 <= evs[0][0] <= 60  # speech begins at frame 50; onset is 3 frames
    speech_end = (8000 + n) // 160
    assert speech_end <= evs[-1][0] <= speech_end + 30


def test_longer_hangover_ends_later_with_fewer_events(talk):
    pcm, _ = talk
    short = events(VoiceActivity(hangover_ms=100), pcm)
    long = events(VoiceActivity(hangover_ms=800), pcm)
    assert [e for _, e in long] == ["start", "end"]  # pauses between phrases bridged
    assert len(short) > 2  # the same pauses end speech with a short hangover
    assert long[-1][0] > short[-1][0]


def test_silence_gives_nothing_and_aggressiveness_rejects_quiet_noise():
    for mode in range(4):
        assert events(VoiceActivity(aggressiveness=mode), np.zeros(8000, np.int16)) == []
    noise = np.random.default_rng(0).normal(0, 10, 8000 * 3).astype(np.int16)
    assert [e for _, e in events(VoiceActivity(aggressiveness=0), noise)] == ["start", "end"]
    assert events(VoiceActivity(aggressiveness=3), noise) == []


def test_reset_returns_to_silence(talk):
    pcm, _ = talk
    vad = VoiceActivity()
    for f in frames(pcm[: 8000 + 8000]):
        vad.feed(f.tobytes())
    assert vad.speaking
    vad.reset()
    assert not vad.speaking


def test_bad_settings_and_frames_are_refused():
    with pytest.raises(ValueError, match="0-3"):
        VoiceActivity(aggressiveness=4)
    with pytest.raises(ValueError, match="at least one frame"):
        VoiceActivity(hangover_ms=0)
    with pytest.raises(ValueError, match="320 bytes"):
        VoiceActivity().feed(bytes(100))
