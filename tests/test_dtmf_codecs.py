"""The DTMF detector through real phone codecs (sox's µ-law, GSM 06.10, AMR-NB)."""

import numpy as np
import pytest

from bench.dtmf_corpus import key_train, speech
from drivers.constants import DTMF_KEYS
from drivers.impair import code
from firmware_app.speak.audio import frames
from firmware_app.listen.dtmf import DtmfDetector
from firmware_app.listen.tones import to_int16, tone_pair


def detect(pcm) -> str:
    det = DtmfDetector()
    return "".join(det.feed(frame) for frame in frames(pcm))


@pytest.mark.parametrize("codec", ["ulaw", "gsm", "amr12.2"])
@pytest.mark.parametrize("level, twist", [(-25, 0), (-20, 4), (-10, -4), (-4, 4), (0, 0)])
def test_every_key_through_a_codec(codec, level, twist):
    tones = to_int16(key_train(DTMF_KEYS, on_ms=100, off_ms=100, low_dbm0=level, twist_db=twist, seed=-level))
    assert detect(code(tones, codec)) == DTMF_KEYS


@pytest.mark.parametrize("level", [-25, -15, -5, 0])
def test_every_key_through_amr_at_its_lowest_rate(level):
    # AMR at 4.75 kbit/s swings each 10 ms block's twist by 10 dB and more
    tones = to_int16(key_train(DTMF_KEYS, on_ms=100, off_ms=100, low_dbm0=level, twist_db=0, seed=-level))
    assert detect(code(tones, "amr4.75")) == DTMF_KEYS


def test_no_talk_off_from_a_voice_that_amr_leaves_with_two_harmonics():
    # In the talk-off set this voice follows tr+f4; coded together, AMR 4.75
    # leaves a vowel with little but harmonics 4 and 5 of 240 Hz: 960 + 1200 Hz.
    audio = np.concatenate([speech("tr", "f4", 230, 20), speech("ar", "f3", 175, 85)])
    assert detect(code(audio, "amr4.75")) == ""


def test_two_harmonics_of_one_pitch_are_not_a_key():
    # 238 Hz: 952 + 1190 Hz, 1.2% and 1.6% off '*' (941 + 1209 Hz), each within Q.24's 1.5% band
    voice = to_int16(tone_pair(4 * 238, 5 * 238, 0.3, low_dbm0=-10, high_dbm0=-10))
    key = to_int16(tone_pair(941 * 1.012, 1209 * 1.012, 0.3, low_dbm0=-10, high_dbm0=-10))
    silence = np.zeros(800, np.int16)
    assert detect(np.concatenate([silence, voice, silence])) == ""
    assert detect(np.concatenate([silence, key, silence])) == "*"
