"""Line impairments: the hybrid's echo path, real codecs, noise, level and clipping."""

import numpy as np
import pytest

from drivers import LineError
from drivers.impair import CODECS, ImpairmentError, Impairments, band_gain_db, code, hybrid_ir
from drivers.constants import FRAME_SAMPLES, RATE
from firmware_app.listen.tones import power_dbm0, tone_pair, to_int16


def frames_of(x):
    return [x[i : i + FRAME_SAMPLES] for i in range(0, len(x), FRAME_SAMPLES)]


def echo_of(imp, pcm):
    """The echo path run frame by frame: the echo that lands in each frame the box reads."""
    out = [np.zeros(FRAME_SAMPLES)]
    for frame in frames_of(pcm):
        out.append(imp.echo(frame.astype("<i2").tobytes()))
    return np.concatenate(out)[: len(pcm)]


def test_parse_reads_every_option():
    imp = Impairments.parse("echo=6dB,30ms&codec=gsm+amr4.75&noise=-50&level=-3dB&clip=-1")
    assert (imp.echo_db, imp.echo_ms, imp.codecs) == (6.0, 30.0, ("gsm", "amr4.75"))
    assert (imp.noise_dbm0, imp.level_db, imp.clip_dbov) == (-50.0, -3.0, -1.0)
    assert Impairments.parse("") == Impairments()


@pytest.mark.parametrize(
    "text, words",
    [
        ("echo=loud", "echo"),
        ("codec=opus", "unknown codec 'opus'"),
        ("hum=50", "unknown impairment 'hum'"),
        ("clip=3", "above full scale"),
        ("echo=10,900ms", "0-500 ms"),
        ("noise=nan", "finite"),
    ],
)
def test_bad_options_get_a_clear_line_error(text, words):
    with pytest.raises(ImpairmentError, match=words) as info:
        Impairments.parse(text)
    assert isinstance(info.value, LineError)


@pytest.mark.parametrize("loss", [6.0, 10.0, 20.0])
def test_hybrid_returns_a_tone_at_its_return_loss_after_its_delay(loss):
    h = hybrid_ir(loss)
    assert band_gain_db(h) == pytest.approx(-loss, abs=0.01)
    imp = Impairments(echo_db=loss, echo_ms=20)
    # white noise over 300-3400 Hz at -10 dBm0
    spectrum = np.fft.rfft(np.random.default_rng(2).normal(0, 1, 4 * RATE))
    freqs = np.fft.rfftfreq(4 * RATE, 1 / RATE)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    noise = np.fft.irfft(spectrum)
    noise = to_int16(noise * 10 ** ((-10 - power_dbm0(noise)) / 20))
    echo = echo_of(imp, noise)
    # silent for the frame the box reads first and the 20 ms delay, then the noise ``loss`` dB down
    assert not echo[: FRAME_SAMPLES + 20 * RATE // 1000].any()
    assert echo[FRAME_SAMPLES + 20 * RATE // 1000 + 1]
    assert power_dbm0(echo[4000:]) == pytest.approx(-10 - loss, abs=0.3)


def test_echo_is_dispersed_not_a_copy():
    h = hybrid_ir(10)
    assert np.count_nonzero(np.abs(h) > 0.01 * np.abs(h).max()) > 10
    # low frequencies are cut by the line's transformer
    low = echo_of(Impairments(echo_db=10, echo_ms=0), to_int16(tone_pair(100, 0, 1.0, low_dbm0=-10)))
    assert power_dbm0(low[4000:]) < -10 - 10 - 6


def test_no_echo_option_means_no_echo():
    imp = Impairments(codecs=("ulaw",))
    assert not imp.echo(np.full(FRAME_SAMPLES, 9000, "<i2").tobytes()).any()
    frame = np.arange(FRAME_SAMPLES, dtype="<i2").tobytes()
    assert imp.line(frame) == frame


@pytest.mark.parametrize("codec", list(CODECS))
def test_codecs_pass_speech_band_tones_and_change_the_samples(codec):
    tone = to_int16(tone_pair(770, 1336, 1.0, low_dbm0=-10, high_dbm0=-8))
    out = code(tone, codec)
    assert len(out) == len(tone) and out.dtype == np.int16
    assert not np.array_equal(out, tone)
    # the level survives within 3 dB, and most of the power stays on the two tones
    assert power_dbm0(out[1600:-1600]) == pytest.approx(power_dbm0(tone[1600:-1600]), abs=4)
    spectrum = np.abs(np.fft.rfft(out[1600:-1600].astype(float))) ** 2
    freqs = np.fft.rfftfreq(len(out) - 3200, 1 / RATE)
    near_tones = (np.abs(freqs - 770) < 30) | (np.abs(freqs - 1336) < 30)
    assert spectrum[near_tones].sum() > 0.8 * spectrum.sum()


def test_low_rate_amr_is_coarser_than_high_rate():
    rng = np.random.default_rng(1)
    x = to_int16(np.convolve(rng.normal(0, 3000, RATE * 2), np.ones(4) / 4, "same"))
    # decoded output is time-aligned with the input, so the error is the coding noise
    errors = {c: np.mean((code(x, c).astype(float) - x) ** 2) for c in ("ulaw", "amr12.2", "amr4.75")}
    assert errors["ulaw"] < errors["amr12.2"] < errors["amr4.75"]


def test_caller_audio_keeps_its_type_and_length():
    imp = Impairments(codecs=("gsm",), level_db=-6)
    pcm = to_int16(tone_pair(941, 1477, 0.5, low_dbm0=-6))
    out = imp.caller(pcm)
    assert isinstance(out, np.ndarray) and len(out) == len(pcm)
    assert power_dbm0(out[800:-800]) == pytest.approx(power_dbm0(pcm[800:-800]) - 6, abs=1.5)
    raw = imp.caller(pcm.tobytes())
    assert isinstance(raw, bytes) and len(raw) == 2 * len(pcm)


def test_noise_and_clipping_at_the_box_input():
    imp = Impairments(noise_dbm0=-40, clip_dbov=-6)
    silent = b"".join(imp.line(bytes(2 * FRAME_SAMPLES)) for _ in range(50))
    assert power_dbm0(np.frombuffer(silent, "<i2")) == pytest.approx(-40, abs=0.5)
    loud = np.full(FRAME_SAMPLES, 30000, "<i2").tobytes()
    out = np.frombuffer(imp.line(loud, np.full(FRAME_SAMPLES, 2000.0)), "<i2")
    assert out.max() <= round(32767 * 10 ** (-6 / 20)) and out.min() > 0
