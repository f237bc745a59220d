"""A streaming DTMF detector for 20 ms frames of 8 kHz audio (ITU-T Q.24).

Each frame is cut into four analysis blocks: 10 ms Hann windows every 5 ms,
the first one reaching back 5 ms into the previous frame. One matrix product
gives, for every block, the complex spectrum at the eight DTMF frequencies and
the block's (Hann-weighted) energy. A block is *valid* for a key when:

- the strongest low-group and high-group tones are each above -38 dBm0;
- twist (high minus low) is between -9.5 and +5.5 dB;
- the two tones hold at least 70% of the block's energy (talk-off guard);
- both tones are within 2.5% of nominal, measured from the phase advance
  since the previous block (so +-1.5% operates and +-3.5% never does).

A key is reported once six blocks in a row are valid for it (tones from about
30 ms; 23 ms never reaches six), which is 30-56 ms after tone onset. It stays
held, and is not reported again, until five blocks in a row are not valid
for it: a 10 ms break spoils at most four, a 40 ms pause at least six.

    >>> from firmware_app.listen.dtmf import DtmfDetector
    >>> det = DtmfDetector()
    >>> keys = "".join(det.feed(frame) for frame in frames)  # doctest: +SKIP
"""

from __future__ import annotations

import math

import numpy as np

RATE = 8000
FRAME = 160
WIN = 80
HOP = 40
BLOCKS = FRAME // HOP
FREQS = (697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0)
KEYS = "123A456B789C*0#D"  # index 4 * low + high

LEVEL_MIN_DBM0 = -38.0
TWIST_MIN_DB = -9.5
TWIST_MAX_DB = 5.5
FRACTION_MIN = 0.70
DEVIATION_MAX = 0.025
CONFIRM_BLOCKS = 6
RELEASE_BLOCKS = 5

_DBM0_POWER = (32767.0 * 10 ** (-3.17 / 20)) ** 2 / 2  # power of a 0 dBm0 sine


def _analysis_matrix(rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The (2 * (HOP + FRAME)) x (2 * 8 * BLOCKS + BLOCKS) analysis matrix.

    The input vector is [x, x**2] over the last HOP + FRAME samples; outputs
    are Re and Im of each block's spectrum (block-major), scaled so that
    re**2 + im**2 is a tone's power in 0 dBm0 units, then each block's
    Hann-weighted mean power in the same units.
    """
    n = np.arange(WIN)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * (n + 0.5) / WIN)
    span = HOP + FRAME
    freqs = np.array(FREQS)
    nf = len(freqs)
    m = np.zeros((2 * span, 2 * nf * BLOCKS + BLOCKS))
    amp = math.sqrt(2 / _DBM0_POWER) / hann.sum()
    arg = 2 * np.pi * np.outer(n, freqs) / rate
    for b in range(BLOCKS):
        rows = slice(b * HOP, b * HOP + WIN)
        m[rows, b * nf : (b + 1) * nf] = amp * hann[:, None] * np.cos(arg)
        m[rows, (BLOCKS + b) * nf : (BLOCKS + b + 1) * nf] = -amp * hann[:, None] * np.sin(arg)
        m[span + b * HOP : span + b * HOP + WIN, 2 * nf * BLOCKS + b] = hann / hann.sum() / _DBM0_POWER
    # Summing matrix for the fast check: total DTMF-bin power of each block.
    s = np.zeros((2 * nf * BLOCKS, BLOCKS))
    for b in range(BLOCKS):
        s[b * nf : (b + 1) * nf, b] = 1
        s[(BLOCKS + b) * nf : (BLOCKS + b + 1) * nf, b] = 1
    return m.astype(np.float32), s.astype(np.float32)


class DtmfDetector:
    """Streaming Q.24 DTMF detector; ``feed`` one 20 ms frame at a time."""

    def __init__(self, rate: int = RATE):
        if rate != RATE:
            raise ValueError(f"DtmfDetector works at {RATE} Hz, not {rate}; resample first")
        self._m, self._sum = _analysis_matrix(rate)
        nf = len(FREQS)
        self._nf = nf
        self._span = HOP + FRAME
        # Expected phase advance per hop of a tone exactly on each frequency,
        # and the largest allowed error (2.5% of the frequency).
        self._advance = [2 * math.pi * f * HOP / rate for f in FREQS]
        self._max_err = [2 * math.pi * f * DEVIATION_MAX * HOP / rate for f in FREQS]
        self._level = 10 ** (LEVEL_MIN_DBM0 / 10)
        self._twist_lo = 10 ** (TWIST_MIN_DB / 10)
        self._twist_hi = 10 ** (TWIST_MAX_DB / 10)
        self.reset()

    def reset(self) -> None:
        """Forget all history, as at the start of a call."""
        self._buf = np.zeros(2 * self._span, np.float32)
        self._sq = np.zeros(2 * self._nf * BLOCKS, np.float32)
        self._prev = (0.0,) * (2 * self._nf)  # last block's spectrum: re..., im...
        self._run_key = ""
        self._run = 0
        self._held = ""
        self._gap = 0

    def feed(self, frame) -> str:
        """Analyse one frame: 160 int16 samples, as 320 bytes or a numpy array.

        Returns the keys confirmed in this frame, normally '' or one key.
        """
        if isinstance(frame, (bytes, bytearray, memoryview)):
            frame = np.frombuffer(frame, "<i2")
        if len(frame) != FRAME:
            raise ValueError(f"a frame is {FRAME} samples ({2 * FRAME} bytes), got {len(frame)} samples")
        buf, span = self._buf, self._span
        buf[:HOP] = buf[FRAME:span]
        buf[HOP:span] = frame
        np.multiply(buf[:span], buf[:span], out=buf[span:])
        y = buf @ self._m
        nt = 2 * self._nf * BLOCKS
        sq = np.square(y[:nt], out=self._sq)
        candidates = (sq @ self._sum) - FRACTION_MIN * y[nt:] > self._level
        if not candidates.any():
            self._prev = y[BLOCKS * self._nf - self._nf : BLOCKS * self._nf].tolist() + y[
                nt - self._nf : nt
            ].tolist()
            self._run_key, self._run = "", 0
            if self._held:
                self._gap += BLOCKS
                if self._gap >= RELEASE_BLOCKS:
                    self._held = ""
            return ""
        return self._blocks(y.tolist())

    def _blocks(self, y: list[float]) -> str:
        """The full per-block check and the duration state machine."""
        nf = self._nf
        nt = 2 * nf * BLOCKS
        out = ""
        prev = self._prev
        for b in range(BLOCKS):
            re = y[b * nf : (b + 1) * nf]
            im = y[(BLOCKS + b) * nf : (BLOCKS + b + 1) * nf]
            key = self._classify(re, im, prev, y[nt + b])
            prev = re + im
            if key and key == self._run_key:
                self._run += 1
            else:
                self._run_key, self._run = key, 1 if key else 0
            if self._held:
                if key == self._held:
                    self._gap = 0
                else:
                    self._gap += 1
                    if self._gap >= RELEASE_BLOCKS:
                        self._held = ""
            if not self._held and self._run >= CONFIRM_BLOCKS:
                self._held, self._gap = self._run_key, 0
                out += self._held
        self._prev = prev
        return out

    def _classify(self, re: list[float], im: list[float], prev: list[float], energy: float) -> str:
        """The key this block is valid for, or ''."""
        power = [r * r + i * i for r, i in zip(re, im)]
        low = max(range(4), key=power.__getitem__)
        high = max(range(4, 8), key=power.__getitem__)
        pl, ph = power[low], power[high]
        if pl < self._level or ph < self._level:
            return ""
        if not self._twist_lo * pl <= ph <= self._twist_hi * pl:
            return ""
        if pl + ph < FRACTION_MIN * energy:
            return ""
        nf = self._nf
        for k in (low, high):
            # Phase advance since the previous block: X_k * conj(X_prev).
            pr, pi = prev[k], prev[nf + k]
            ar = re[k] * pr + im[k] * pi
            ai = im[k] * pr - re[k] * pi
            err = math.atan2(ai, ar) - self._advance[k]
            err = (err + math.pi) % (2 * math.pi) - math.pi
            if abs(err) > self._max_err[k]:
                return ""
        return KEYS[4 * low + high - 4]
