"""Line impairments for the simulator: hybrid echo, phone codecs, noise, level, clipping.

A real call reaches the box through a phone network and a 2-wire line. The
caller's audio is coded on the way (G.711 µ-law, GSM 06.10, AMR-NB), changed
in level and clipped; the line adds noise; and the hybrid couples the box's
own output back into its input, some dB down and some ms late, smeared by a
short dispersive impulse response.

Options, as in a line URL's query (``sim:?echo=10dB,20ms&codec=amr4.75``):

- ``echo=RL[dB],DELAY[ms]``: the hybrid's return loss and delay;
- ``codec=NAME[+NAME...]``: ``ulaw``, ``gsm``, ``amr12.2``, ``amr4.75`` on the
  caller's audio, in that order, with sox's real codecs;
- ``noise=DBM0``: white line noise at that level (dBm0);
- ``level=DB``: gain on the caller's audio;
- ``clip=DBOV``: the box's input saturates that many dB below full scale.

    >>> imp = Impairments.parse("echo=10dB,20ms&codec=ulaw&noise=-60")
    >>> imp
    Impairments(echo_db=10.0, echo_ms=20.0, codecs=('ulaw',), noise_dbm0=-60.0, level_db=0.0, clip_dbov=None)
    >>> import numpy as np
    >>> tone = (8000 * np.sin(np.arange(160) * 0.8)).astype("<i2").tobytes()
    >>> add = imp.echo(tone)                   # per frame the box writes: echo for its next read
    >>> heard = imp.line(bytes(320), add)      # per frame the box reads: caller + echo + noise
    >>> len(heard)
    320

``caller(pcm)`` codes a whole utterance (or any chunk) of the caller's audio
at once; the echo path runs frame by frame, because it feeds the box's output
back into its input.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import numpy as np

from .constants import DBM0_PEAK, FRAME_SAMPLES, IMPAIRMENTS, RATE
from .line import LineError

# sox arguments for each codec: the encoded file type and its options.
CODECS = {
    "ulaw": ["-t", "ul"],
    "gsm": ["-t", "gsm"],
    "amr12.2": ["-C", "7", "-t", "amr-nb"],
    "amr4.75": ["-C", "0", "-t", "amr-nb"],
}
# samples the decoder's output lags its input (opencore-amrnb's look-ahead); taken out
DELAY = {"amr12.2": 40, "amr4.75": 40}
RAW = ["-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-L"]
IR_TAPS = 64  # 8 ms of dispersion after the bulk delay


class ImpairmentError(LineError):
    """An impairment option that does not parse, or a codec sox cannot run."""


def hybrid_ir(return_loss_db: float) -> np.ndarray:
    """A 2-wire hybrid's dispersive echo impulse response (8 ms).

    The line's transformer (a 300 Hz high-pass) and the codec's anti-alias
    filter (a 3.4 kHz low-pass), two second-order sections each, with a weak
    reflection 2.5 ms later. Scaled so that the mean power gain over 300-3400
    Hz is ``-return_loss_db``.

    >>> h = hybrid_ir(10)
    >>> len(h), round(float(band_gain_db(h)), 1)
    (64, -10.0)
    """
    x = np.zeros(IR_TAPS)
    x[0] = 1.0
    x[20] = -0.15
    for kind, freq in (("high", 300.0), ("high", 300.0), ("low", 3400.0), ("low", 3400.0)):
        x = _biquad(x, kind, freq)
    return x * 10 ** ((-return_loss_db - band_gain_db(x)) / 20)


def band_gain_db(h: np.ndarray) -> float:
    """Mean power gain of the filter ``h`` over 300-3400 Hz, in dB."""
    spectrum = np.abs(np.fft.rfft(h, 1024)) ** 2
    freqs = np.fft.rfftfreq(1024, 1 / RATE)
    return float(10 * np.log10(spectrum[(freqs >= 300) & (freqs <= 3400)].mean()))


def _biquad(x: np.ndarray, kind: str, freq: float, q: float = 0.7071) -> np.ndarray:
    """One RBJ-cookbook Butterworth section over ``x``."""
    w = 2 * math.pi * freq / RATE
    alpha, cos = math.sin(w) / (2 * q), math.cos(w)
    if kind == "low":
        b = [(1 - cos) / 2, 1 - cos, (1 - cos) / 2]
    else:
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
    a = [1 + alpha, -2 * cos, 1 - alpha]
    y = np.zeros_like(x)
    for n in range(len(x)):
        y[n] = (
            b[0] * x[n]
            + (b[1] * x[n - 1] if n >= 1 else 0)
            + (b[2] * x[n - 2] if n >= 2 else 0)
            - (a[1] * y[n - 1] if n >= 1 else 0)
            - (a[2] * y[n - 2] if n >= 2 else 0)
        ) / a[0]
    return y


def code(pcm: np.ndarray, codec: str) -> np.ndarray:
    """``pcm`` (8 kHz int16) encoded with ``codec`` by sox and decoded back, same length."""
    if codec not in CODECS:
        raise ImpairmentError(f"unknown codec {codec!r} (codecs: {', '.join(CODECS)})")
    pcm = np.asarray(pcm, np.int16)
    if not len(pcm):
        return pcm.copy()
    try:
        encoded = subprocess.run(
            ["sox", *RAW, "-", *CODECS[codec], "-"], input=pcm.astype("<i2").tobytes(), capture_output=True, check=True
        ).stdout
        decoded = subprocess.run(
            ["sox", *CODECS[codec][-2:], "-", *RAW, "-"], input=encoded, capture_output=True, check=True
        ).stdout
    except FileNotFoundError:
        raise ImpairmentError("codec impairments need sox (Debian: sox libsox-fmt-all)") from None
    except subprocess.CalledProcessError as e:
        raise ImpairmentError(f"sox cannot run codec {codec}: {e.stderr.decode(errors='replace').strip()}") from None
    out = np.frombuffer(decoded, "<i2")[DELAY.get(codec, 0) :][: len(pcm)]
    return np.concatenate([out, np.zeros(len(pcm) - len(out), np.int16)])


def _number(option: str, text: str, unit: str) -> float:
    text = text.strip()
    if unit and text.lower().endswith(unit.lower()):
        text = text[: -len(unit)]
    try:
        value = float(text)
    except ValueError:
        raise ImpairmentError(f"impairment {option}: {text!r} is not a number{' of ' + unit if unit else ''}") from None
    if not math.isfinite(value):
        raise ImpairmentError(f"impairment {option}: {text!r} is not a finite number")
    return value


@dataclass
class Impairments:
    """What the line does to the call; every option off by default."""

    echo_db: float | None = None
    echo_ms: float = 20.0
    codecs: tuple[str, ...] = ()
    noise_dbm0: float | None = None
    level_db: float = 0.0
    clip_dbov: float | None = None
    seed: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        for codec in self.codecs:
            if codec not in CODECS:
                raise ImpairmentError(f"unknown codec {codec!r} (codecs: {', '.join(CODECS)})")
        if self.echo_db is not None and self.echo_db < 0:
            raise ImpairmentError(f"impairment echo: return loss {self.echo_db} dB must not be negative")
        if not 0 <= self.echo_ms <= 500:
            raise ImpairmentError(f"impairment echo: delay {self.echo_ms} ms must be within 0-500 ms")
        if self.clip_dbov is not None and self.clip_dbov > 0:
            raise ImpairmentError(f"impairment clip: {self.clip_dbov} dBov is above full scale")
        self._ir = hybrid_ir(self.echo_db) if self.echo_db is not None else None
        self._delay = round(self.echo_ms * RATE / 1000)
        self._history = np.zeros(self._delay + IR_TAPS - 1 + FRAME_SAMPLES)
        self._rng = np.random.default_rng(self.seed)

    @classmethod
    def parse(cls, text: str) -> "Impairments":
        """Options in URL-query form: ``echo=10dB,20ms&codec=gsm&noise=-50``."""
        return cls.from_options(dict(parse_qsl(text, keep_blank_values=True)))

    @classmethod
    def from_options(cls, options: dict[str, str]) -> "Impairments":
        """Build from a line URL's options; raises ImpairmentError naming a bad one."""
        unknown = set(options) - set(IMPAIRMENTS)
        if unknown:
            raise ImpairmentError(f"unknown impairment {sorted(unknown)[0]!r} (options: {', '.join(IMPAIRMENTS)})")
        kwargs: dict = {}
        if "echo" in options:
            loss, _, delay = options["echo"].partition(",")
            kwargs["echo_db"] = _number("echo", loss, "dB")
            if delay:
                kwargs["echo_ms"] = _number("echo", delay, "ms")
        if options.get("codec"):
            # "+" joins codecs; a URL query decodes it to a space
            kwargs["codecs"] = tuple(c.lower() for c in re.split(r"[+\s]+", options["codec"].strip()))
        if "noise" in options:
            kwargs["noise_dbm0"] = _number("noise", options["noise"], "dBm0")
        if "level" in options:
            kwargs["level_db"] = _number("level", options["level"], "dB")
        if "clip" in options:
            kwargs["clip_dbov"] = _number("clip", options["clip"], "dBov")
        return cls(**kwargs)

    def caller(self, pcm):
        """The caller's audio (int16 array or s16le bytes) after level and codecs; same type and length."""
        raw = isinstance(pcm, (bytes, bytearray))
        x = np.frombuffer(pcm, "<i2") if raw else np.asarray(pcm, np.int16)
        if self.level_db:
            x = np.clip(np.rint(x * 10 ** (self.level_db / 20)), -32768, 32767).astype(np.int16)
        for codec in self.codecs:
            x = code(x, codec)
        return x.astype("<i2").tobytes() if raw else x

    def echo(self, box_frame: bytes) -> np.ndarray:
        """The hybrid's echo of one frame the box writes, as float samples to add
        to the next frame it reads (zeros without an echo option)."""
        if self._ir is None:
            return np.zeros(FRAME_SAMPLES)
        h = self._history
        h[:-FRAME_SAMPLES] = h[FRAME_SAMPLES:]
        h[-FRAME_SAMPLES:] = np.frombuffer(box_frame, "<i2")
        # output sample n is sum_k ir[k] * x[n - delay - k]
        return np.convolve(h[: IR_TAPS - 1 + FRAME_SAMPLES], self._ir, "valid")

    def line(self, frame: bytes, echo: np.ndarray | None = None) -> bytes:
        """One frame the box reads: the caller's ``frame`` plus ``echo`` and line
        noise, saturated at the clip level."""
        if echo is None and self.noise_dbm0 is None and self.clip_dbov is None:
            return frame
        x = np.frombuffer(frame, "<i2").astype(np.float64)
        if echo is not None:
            x = x + echo
        if self.noise_dbm0 is not None:
            x = x + self._rng.normal(0, DBM0_PEAK / math.sqrt(2) * 10 ** (self.noise_dbm0 / 20), len(x))
        limit = 32767.0 if self.clip_dbov is None else 32767.0 * 10 ** (self.clip_dbov / 20)
        return np.clip(np.rint(x), -limit - 1, limit).astype("<i2").tobytes()


__all__ = ["CODECS", "ImpairmentError", "Impairments", "code", "hybrid_ir"]
