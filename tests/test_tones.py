"""<Play digits> tones: Q.23 levels and twist, pauses, and round trips."""

import subprocess

import numpy as np
import pytest

from firmware_app.speak.audio import frames
from firmware_app.listen.dtmf import DtmfDetector
from firmware_app.listen.tones import dbm0_to_peak, dtmf_audio, key_freqs, power_dbm0, tone_pair

ALL = "0123456789*#ABCD"


def detect(pcm):
    det = DtmfDetector()
    return "".join(det.feed(f) for f in frames(pcm))


def tone_level_dbm0(pcm, freq):
    """Level of one frequency in ``pcm`` in dBm0, by projection on a sine."""
    t = np.arange(len(pcm)) / 8000
    c = 2 * np.mean(pcm * np.exp(-2j * np.pi * freq * t))
    return 20 * np.log10(abs(c) / dbm0_to_peak(0))


def test_zero_dbm0_is_3_17_db_below_full_scale():
    assert dbm0_to_peak(3.17) == pytest.approx(32767, rel=1e-6)
    assert power_dbm0(tone_pair(1000, 0, 1.0, low_dbm0=-10)) == pytest.approx(-10, abs=0.01)


@pytest.mark.parametrize("key", ALL)
def test_each_key_at_q23_levels_and_twist(key):
    pcm = dtmf_audio(key, off_ms=0).astype(float)
    low, high = key_freqs(key)
    assert len(pcm) == 800
    assert tone_level_dbm0(pcm, low) == pytest.approx(-8, abs=0.1)
    assert tone_level_dbm0(pcm, high) == pytest.approx(-6, abs=0.1)


def test_w_is_half_a_second_of_silence():
    pcm = dtmf_audio("1w2")
    assert len(pcm) == 800 + 800 + 4000 + 800 + 800  # 1, gap, w, 2, gap
    assert not pcm[1600:5600].any()


def test_unknown_characters_are_refused():
    with pytest.raises(ValueError, match="not a DTMF key"):
        dtmf_audio("12x")


def test_round_trip_through_our_detector():
    assert detect(dtmf_audio(ALL + "w" + ALL[::-1])) == ALL + ALL[::-1]


def test_round_trip_through_spandsp(tmp_path):
    harness = tmp_path / "dtmf_spandsp"
    subprocess.run(
        ["gcc", "-O2", "-o", str(harness), "bench/dtmf_spandsp.c", "-lspandsp", "-lm"], check=True
    )
    raw = tmp_path / "digits.raw"
    dtmf_audio(ALL + "w" + "1w2#").astype("<i2").tofile(raw)
    out = subprocess.run([str(harness), str(raw)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ALL + "12#"
