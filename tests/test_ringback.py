"""Call progress after dialling out: ringback (North American, ITU, UK), an answer, busy,
reorder; and that neither dial tone nor busy is taken for ringback."""

import numpy as np
import pytest

from firmware_app.listen.progress import HangupTones
from firmware_app.listen.tones import to_int16, tone_pair


def heard(pcm, **options):
    detector = HangupTones(ringback=True, **options)
    return [(round(i / 8000, 2), sound, round(detector.heard_for, 2))
            for i in range(0, len(pcm) - 159, 160) if (sound := detector.feed(pcm[i:i + 160]))]


def cadence(f1, f2, pattern, repeats=2, dbm0=-19):
    parts = [tone_pair(f1, f2, s, low_dbm0=dbm0, high_dbm0=dbm0) if k % 2 == 0 else np.zeros(int(s * 8000))
             for k, s in enumerate(pattern * repeats)]
    return to_int16(np.concatenate(parts))


@pytest.mark.parametrize("name, f1, f2, pattern, first", [
    ("north america", 440, 480, (2.0, 4.0), 2.0),
    ("itu", 425, 0, (1.0, 4.0), 1.0),
    ("uk", 400, 450, (0.4, 0.2, 0.4, 2.0), 1.0),
])
def test_ringback_at_the_end_of_each_ring(name, f1, f2, pattern, first):
    found = heard(cadence(f1, f2, pattern))
    assert [s for _, s, _ in found] == ["ringback", "ringback"]
    assert abs(found[0][0] - first) <= 0.04
    assert abs(found[0][2] - first) <= 0.04  # how long the ring had lasted when reported


def test_dial_tone_and_busy_are_not_ringback():
    assert [s for _, s, _ in heard(cadence(350, 440, (5.0, 0.1), 1))] == ["dial"]
    assert [s for _, s, _ in heard(cadence(480, 620, (0.5, 0.5), 4))] == ["busy"]
    assert [s for _, s, _ in heard(cadence(480, 620, (0.25, 0.25), 4))] == ["reorder"]


def test_a_voice_after_ringback_is_an_answer():
    voice = to_int16(np.random.default_rng(1).normal(0, 2000, 8000))
    found = heard(np.concatenate([cadence(440, 480, (2.0, 1.0), 1), voice]))
    assert [s for _, s, _ in found][:2] == ["ringback", "answer"]
    assert 3.45 <= found[1][0] <= 3.6


def test_without_ringback_asked_it_is_not_reported():
    detector = HangupTones()
    pcm = cadence(440, 480, (2.0, 4.0))
    assert not [s for i in range(0, len(pcm) - 159, 160) if (s := detector.feed(pcm[i:i + 160]))]
