"""The streaming DTMF detector against every Q.24 limit, speech and timing."""

import numpy as np
import pytest

from bench.dtmf_corpus import limit_cases, talkdown_cases, talkoff_cases
from firmware_app.listen.audiofile import frames
from firmware_app.listen.dtmf import DtmfDetector
from firmware_app.listen.tones import dtmf_audio, key_freqs, to_int16, tone_pair

LIMITS = limit_cases()


def detect(pcm: np.ndarray) -> str:
    det = DtmfDetector()
    return "".join(det.feed(frame) for frame in frames(pcm))


@pytest.mark.parametrize("case", LIMITS, ids=[c.name for c in LIMITS])
def test_q24_limit(case):
    assert detect(case.audio) == case.expect


def test_no_talk_off_on_speech_in_several_voices_and_languages():
    cases = talkoff_cases(8)
    assert sum(len(c.audio) for c in cases) > 8000 * 60  # at least a minute of speech
    assert {c.name: detect(c.audio) for c in cases} == {c.name: "" for c in cases}


def test_digits_over_speech_are_heard():
    for case in talkdown_cases(3):
        assert detect(case.audio) == case.expect, case.name


@pytest.mark.parametrize("onset", range(0, 160, 10))
def test_reports_within_60_ms_of_tone_onset(onset):
    low, high = key_freqs("7")
    pcm = to_int16(np.concatenate([np.zeros(1600 + onset), tone_pair(low, high, 0.1), np.zeros(1600)]))
    det = DtmfDetector()
    for i, frame in enumerate(frames(pcm)):
        if det.feed(frame):
            latency_ms = ((i + 1) * 160 - (1600 + onset)) / 8
            break
    else:
        pytest.fail("digit not detected")
    assert 25 <= latency_ms <= 60


def test_long_tone_is_one_digit_and_a_pause_allows_the_next():
    assert detect(dtmf_audio("5", on_ms=2000)) == "5"
    assert detect(dtmf_audio("55", on_ms=60, off_ms=40)) == "55"


def test_bytes_and_arrays_give_the_same_result():
    pcm = dtmf_audio("19#")
    det_bytes, det_array = DtmfDetector(), DtmfDetector()
    got_bytes = "".join(det_bytes.feed(f.tobytes()) for f in frames(pcm))
    got_array = "".join(det_array.feed(f) for f in frames(pcm))
    assert got_bytes == got_array == "19#"


def test_reset_forgets_a_held_key():
    det = DtmfDetector()
    tone = dtmf_audio("3", on_ms=400, off_ms=0)
    first = "".join(det.feed(f) for f in frames(tone[:1600]))
    det.reset()
    second = "".join(det.feed(f) for f in frames(tone[1600:]))
    assert (first, second) == ("3", "3")


def test_bad_frames_and_rates_are_refused():
    det = DtmfDetector()
    with pytest.raises(ValueError, match="160 samples"):
        det.feed(bytes(100))
    with pytest.raises(ValueError, match="8000"):
        DtmfDetector(rate=16000)
