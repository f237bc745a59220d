"""The hang-up tone detector: busy, reorder and dial tone found within three
cycles through line noise; speech, keys, ringback and lone bursts ignored."""

import numpy as np
import pytest

from bench.dtmf_corpus import key_train, talkoff_cases
from drivers.constants import DTMF_KEYS, FRAME_SECONDS, RATE
from firmware_app.speak.audio import frames
from firmware_app.listen.progress import HangupTones
from firmware_app.listen.tones import dbm0_to_peak, power_dbm0, to_int16



def cadence(freqs, on, off, seconds, dbm0, seed=0):
    """Float samples of ``freqs`` (each at ``dbm0``) ``on`` s / ``off`` s for ``seconds``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(dbm0_to_peak(dbm0) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)
    if off:
        x = x * ((t % (on + off)) < on)
    return x


def with_noise(x, snr_db, lead=1.0, seed=1):
    """``x`` after ``lead`` s, in white noise ``snr_db`` under the tone's level while on."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.zeros(int(lead * RATE) + int(rng.integers(0, 160))), x])
    tone_power = np.mean(x[np.abs(x) > 0] ** 2)
    return x + rng.standard_normal(len(x)) * np.sqrt(tone_power / 10 ** (snr_db / 10))


def first_report(pcm, **options):
    """(what, seconds into the audio at the end of the frame that reported it), or None."""
    det = HangupTones(**options)
    for i, frame in enumerate(frames(to_int16(pcm))):
        found = det.feed(frame)
        if found:
            return found, (i + 1) * FRAME_SECONDS
    return None


DISCONNECTS = [
    # name, frequencies, on, off, dBm0 per tone (nominal, and 12 dB of line loss), expected
    ("NA busy", (480, 620), 0.5, 0.5, -24, "busy"),
    ("NA busy, 12 dB loss", (480, 620), 0.5, 0.5, -36, "busy"),
    ("NA reorder", (480, 620), 0.25, 0.25, -24, "reorder"),
    ("NA reorder 0.3/0.2", (480, 620), 0.3, 0.2, -24, "reorder"),
    ("ITU busy 425", (425,), 0.5, 0.5, -13, "busy"),
    ("DE busy 425 0.48/0.48", (425,), 0.48, 0.48, -19, "busy"),
    ("ITU congestion 425", (425,), 0.25, 0.25, -19, "reorder"),
    ("UK busy 400", (400,), 0.375, 0.375, -19, "busy"),
    ("UK busy 400, 12 dB loss", (400,), 0.375, 0.375, -31, "busy"),
]


@pytest.mark.parametrize("case", DISCONNECTS, ids=[c[0] for c in DISCONNECTS])
@pytest.mark.parametrize("seed", range(3))
def test_busy_and_reorder_are_reported_within_three_cycles_through_noise(case, seed):
    name, freqs, on, off, dbm0, expected = case
    lead = 1.0
    pcm = with_noise(cadence(freqs, on, off, 10, dbm0, seed), snr_db=20, lead=lead, seed=seed)
    found = first_report(pcm)
    assert found is not None, name
    what, at = found
    assert what == expected
    after_onset = at - lead
    assert 2 * (on + off) + on <= after_onset + 0.05  # three bursts are heard out
    assert after_onset <= 3 * (on + off)


@pytest.mark.parametrize("freqs", [(350, 440), (350, 450), (425,)], ids=["NA", "UK", "ITU"])
def test_dial_tone_coming_back_is_reported_after_three_seconds(freqs):
    pcm = with_noise(cadence(freqs, 0, 0, 6, -13), snr_db=20, lead=1.0)
    what, at = first_report(pcm)
    assert what == "dial"
    assert 3.0 <= at - 1.0 <= 3.1


def test_two_and_a_half_seconds_of_dial_tone_are_not_enough():
    assert first_report(with_noise(cadence((350, 440), 0, 0, 2.5, -13), 20)) is None


def test_no_report_on_a_minute_of_speech_in_several_voices():
    talk = np.concatenate([c.audio for c in talkoff_cases(8)])
    assert len(talk) > 60 * RATE
    assert first_report(talk.astype(float)) is None
    assert first_report(with_noise(talk.astype(float), 20, seed=4)) is None


def test_no_report_on_dtmf_key_trains():
    keys = DTMF_KEYS * 3
    for on_ms, off_ms in ((100, 100), (60, 60), (500, 500), (250, 250)):
        train = key_train(keys, on_ms=on_ms, off_ms=off_ms, seed=on_ms)
        assert first_report(with_noise(train, 20)) is None, (on_ms, off_ms)


@pytest.mark.parametrize("freqs", [(480, 620), (425,), (400,)])
def test_one_or_two_bursts_are_not_a_cadence(freqs):
    for bursts in (1, 2):
        pcm = with_noise(cadence(freqs, 0.5, 0.5, bursts * 1.0 - 0.5, -19), 20)
        assert first_report(np.concatenate([pcm, np.zeros(5 * RATE)])) is None


def test_ringback_is_not_a_hangup():
    """The far end still ringing: 440 + 480 Hz 2 s / 4 s, or 425 Hz 1 s / 4 s."""
    assert first_report(with_noise(cadence((440, 480), 2, 4, 20, -19), 20)) is None
    assert first_report(with_noise(cadence((425,), 1, 4, 20, -13), 20)) is None


def test_a_tone_cadence_broken_by_speech_starts_again():
    busy = cadence((480, 620), 0.5, 0.5, 2.0, -24)
    talk = talkoff_cases(1)[0].audio[: RATE].astype(float)
    assert first_report(np.concatenate([busy, talk, busy])) is None
    assert first_report(np.concatenate([busy, talk, busy, busy]))[0] == "busy"


def test_cycles_sets_how_many_bursts_confirm():
    pcm = with_noise(cadence((480, 620), 0.5, 0.5, 10, -24), 20, lead=0)
    _, at2 = first_report(pcm, cycles=2)
    _, at4 = first_report(pcm, cycles=4)
    assert 1.5 <= at2 <= 1.65 and 3.5 <= at4 <= 3.65


def test_silence_timeout_is_off_unless_set():
    hiss = np.random.default_rng(2).standard_normal(40 * RATE) * dbm0_to_peak(-60) / np.sqrt(2)
    assert -61 < power_dbm0(hiss) < -59
    assert first_report(hiss) is None
    what, at = first_report(hiss, silence=5)
    assert what == "silence" and 4.98 <= at <= 5.02
    talk = talkoff_cases(1)[0].audio.astype(float)
    assert first_report(np.concatenate([hiss[: 4 * RATE], talk, hiss[: 4 * RATE]]), silence=5) is None


def test_silence_alone_when_tones_are_off():
    busy = cadence((480, 620), 0.5, 0.5, 10, -24)
    assert first_report(busy, tones=False) is None
    assert first_report(np.concatenate([busy, np.zeros(3 * RATE)]), tones=False, silence=2)[0] == "silence"


def test_reports_once_then_needs_a_new_confirmation():
    det = HangupTones()
    pcm = to_int16(cadence((480, 620), 0.5, 0.5, 6, -24))
    reports = [(i, r) for i, r in enumerate(det.feed(f) for f in frames(pcm)) if r]
    assert [r for _, r in reports] == ["busy", "busy"]
    assert reports[1][0] - reports[0][0] == 150  # three more bursts


def test_bytes_and_arrays_give_the_same_result():
    pcm = to_int16(cadence((425,), 0.5, 0.5, 4, -13))
    a, b = HangupTones(), HangupTones()
    assert [a.feed(f) for f in frames(pcm)] == [b.feed(f.tobytes()) for f in frames(pcm)]


def test_bad_frames_and_options_are_refused():
    with pytest.raises(ValueError, match="160 samples"):
        HangupTones().feed(bytes(100))
    with pytest.raises(ValueError, match="cycles"):
        HangupTones(cycles=1)
    with pytest.raises(ValueError, match="silence"):
        HangupTones(silence=-1)
