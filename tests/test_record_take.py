"""A <Record>'s audio: the beep, trimming silence with voice activity, and the
caller's DTMF tones cut out with the box's own detector. The caller speaks
through espeak-ng, as in the simulator."""

import asyncio

import numpy as np

from firmware_app.listen.dtmf import DtmfDetector
from firmware_app.listen.tones import dbm0_to_peak, dtmf_audio, power_dbm0
from firmware_app.recordings.take import BEEP_SECONDS, Take, beep
from firmware_app.speak.tts import Synthesizer


def speech(text: str, language: str = "en-US") -> bytes:
    pcm, _ = asyncio.run(Synthesizer().synth(text, "man", language))
    return pcm[:len(pcm) // 320 * 320]


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * 8000) * 2)


def record(pcm: bytes, tmp_path, trim: bool = True) -> tuple[bytes | None, Take]:
    take, detector = Take(tmp_path / "t.raw"), DtmfDetector()
    for i in range(0, len(pcm), 320):
        frame = pcm[i:i + 320]
        detector.feed(frame)
        take.feed(frame, detector.tone)
    return take.finish(trim), take


def band_dbm0(pcm: bytes, hz: float) -> float:
    """Level of the strongest 20 ms frame at HZ (a Goertzel-like projection)."""
    x = np.frombuffer(pcm, "<i2").astype(float)
    frames = x[:len(x) // 160 * 160].reshape(-1, 160)
    t = np.arange(160) / 8000
    amplitude = np.abs(frames @ np.exp(-2j * np.pi * hz * t)).max() * 2 / 160
    return 20 * np.log10(max(amplitude, 1e-9) / dbm0_to_peak(0))


def test_the_beep_is_a_real_1khz_tone():
    pcm = np.frombuffer(beep(), "<i2").astype(float)
    assert len(pcm) == BEEP_SECONDS * 8000
    spectrum = np.abs(np.fft.rfft(pcm))
    assert abs(np.argmax(spectrum) * 8000 / len(pcm) - 1000) < 2.5
    near = spectrum[int(950 * len(pcm) / 8000):int(1050 * len(pcm) / 8000)]
    assert (near ** 2).sum() > 0.99 * (spectrum ** 2).sum()
    assert -12 < power_dbm0(pcm[400:-400]) < -8
    assert abs(pcm[0]) < 50 and abs(pcm[-1]) < 50                       # soft edges: no click


def test_trim_keeps_the_speech_and_drops_the_silence_around_it(tmp_path):
    said = speech("please call me back tomorrow")
    out, take = record(silence(2) + said + silence(3), tmp_path)
    assert take.seconds == round((len(said) / 2 + 5 * 8000) / 8000, 2)
    seconds = len(out) / 16000
    assert len(said) / 16000 - 0.3 < seconds < len(said) / 16000 + 0.4
    assert np.abs(np.frombuffer(out[:160], "<i2")).max() < 2000         # starts in the short pad before the words
    untrimmed, _ = record(silence(2) + said + silence(3), tmp_path, trim=False)
    assert len(untrimmed) == len(silence(2) + said + silence(3))
    assert not (tmp_path / "t.raw").exists()


def test_dtmf_tones_are_cut_out_and_the_voice_stays(tmp_path):
    first, second = speech("hello"), speech("goodbye")
    keys = dtmf_audio("5").tobytes()                   # 100 ms tone, 100 ms gap
    caller = silence(0.5) + first + silence(0.3) + keys + silence(0.3) + second + silence(1)
    out, take = record(caller, tmp_path)
    assert take.tones, "the detector heard the key"
    assert band_dbm0(caller, 1336) > -15                 # the key's high tone is in what the caller sent
    assert band_dbm0(out, 1336) <= band_dbm0(first + second, 1336) + 0.5     # no more of it than the words have
    detector = DtmfDetector()
    assert "".join(detector.feed(out[i:i + 320]) for i in range(0, len(out), 320)) == ""
    kept = len(out) / 16000
    sent = len(first + second) / 16000 + 0.6 + 0.2
    assert sent - 0.4 < kept < sent + 0.3
    # every loud frame of both words is still there
    assert loud_frames(out) >= loud_frames(first + second) - 1


def loud_frames(pcm: bytes) -> int:
    x = np.frombuffer(pcm, "<i2").astype(float)
    return int((np.sqrt((x[:len(x) // 160 * 160].reshape(-1, 160) ** 2).mean(axis=1)) > 300).sum())


def test_keys_and_silence_alone_make_an_empty_recording(tmp_path):
    out, take = record(silence(1) + dtmf_audio("123").tobytes() + silence(2), tmp_path)
    assert out is None and not take.heard_voice and len(take.tones) == 3


def test_silence_counts_from_the_last_speech(tmp_path):
    said = speech("one two three")
    take = Take(tmp_path / "s.raw")
    for i in range(0, len(said), 320):
        take.feed(said[i:i + 320], False)
    assert take.silence < 0.4
    for _ in range(100):
        take.feed(bytes(320), False)
    assert 2.0 <= take.silence <= 2.5
    take.discard()
    assert not (tmp_path / "s.raw").exists()
