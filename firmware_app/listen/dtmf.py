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
SPAN = HOP + FRAME

_DBM0_POWER = (32767.0 * 10 ** (-3.17 / 20)) ** 2 / 2  # power of a 0 dBm0 sine


def _analysis_matrices(rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matrices over the last HOP + FRAME samples (x) and their squares.

    ``x @ spectrum`` gives Re then Im of every block's spectrum at the eight
    frequencies (block-major), scaled so that re**2 + im**2 is a tone's power
    in 0 dBm0 units; ``x**2 @ energy`` gives each block's Hann-weighted mean
    power in the same units; ``(re**2, im**2) @ summing`` adds up the DTMF
    bins of each block, for the quick check.
    """
    n = np.arange(WIN)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * (n + 0.5) / WIN)
    nf = len(FREQS)
    spectrum = np.zeros((SPAN, 2 * nf * BLOCKS))
    energy = np.zeros((SPAN, BLOCKS))
    summing = np.zeros((2 * nf * BLOCKS, BLOCKS))
    amp = math.sqrt(2 / _DBM0_POWER) / hann.sum()
    arg = 2 * np.pi * np.outer(n, FREQS) / rate
    for b in range(BLOCKS):
        rows = slice(b * HOP, b * HOP + WIN)
        re_cols = slice(b * nf, (b + 1) * nf)
        im_cols = slice((BLOCKS + b) * nf, (BLOCKS + b + 1) * nf)
        spectrum[rows, re_cols] = amp * hann[:, None] * np.cos(arg)
        spectrum[rows, im_cols] = -amp * hann[:, None] * np.sin(arg)
        energy[rows, b] = hann / hann.sum() / _DBM0_POWER
        summing[re_cols, b] = summing[im_cols, b] = 1
    return spectrum.astype(np.float32), energy.astype(np.float32), summing.astype(np.float32)


class DtmfDetector:
    """Streaming Q.24 DTMF detector; ``feed`` one 20 ms frame at a time."""

    def __init__(self, rate: int = RATE):
        if rate != RATE:
            raise ValueError(f"DtmfDetector works at {RATE} Hz, not {rate}; resample first")
        self._spectrum, self._energy, self._summing = _analysis_matrices(rate)
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
        self._buf = np.zeros(SPAN, np.float32)
        self._squares = np.zeros(SPAN, np.float32)
        self._powers = np.zeros(2 * len(FREQS) * BLOCKS, np.float32)
        self._prev_y = np.zeros(2 * len(FREQS) * BLOCKS, np.float32)
        self._run_key = ""
        self._run = 0
        self._held = ""
        self._gap = 0

    def feed(self, frame) -> str:
        """Analyse one frame: 160 int16 samples, as 320 bytes or a numpy array.

        Returns the keys confirmed in this frame, normally '' or one key.
        """
        if type(frame) is not np.ndarray:
            frame = np.frombuffer(frame, "<i2")
        if len(frame) != FRAME:
            raise ValueError(f"a frame is {FRAME} samples ({2 * FRAME} bytes), got {len(frame)} samples")
        buf = self._buf
        buf[:HOP] = buf[FRAME:]
        buf[HOP:] = frame
        y = np.dot(buf, self._spectrum)
        tone = np.dot(np.square(y, out=self._powers), self._summing).tolist()
        energy = np.dot(np.square(buf, out=self._squares), self._energy).tolist()
        level = self._level
        # Quick check: could any block hold enough tone energy to be valid?
        candidates = [t > FRACTION_MIN * e + level for t, e in zip(tone, energy)]
        prev_y, self._prev_y = self._prev_y, y
        if True in candidates:
            return self._blocks(y.tolist(), prev_y, candidates, energy)
        self._run_key, self._run = "", 0
        if self._held:
            self._gap += BLOCKS
            if self._gap >= RELEASE_BLOCKS:
                self._held = ""
        return ""

    def _blocks(self, y: list[float], prev_y: np.ndarray, candidates: list[bool], energy: list[float]) -> str:
        """The full check of candidate blocks and the duration state machine."""
        nf = len(FREQS)
        last = BLOCKS - 1
        prev = prev_y[last * nf : BLOCKS * nf].tolist() + prev_y[(BLOCKS + last) * nf :].tolist()
        out = ""
        for b in range(BLOCKS):
            re = y[b * nf : (b + 1) * nf]
            im = y[(BLOCKS + b) * nf : (BLOCKS + b + 1) * nf]
            key = self._classify(re, im, prev, energy[b]) if candidates[b] else ""
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
        return out

    def _classify(self, re: list[float], im: list[float], prev: list[float], energy: float) -> str:
        """The key this block is valid for, or ''."""
        power = [r * r + i * i for r, i in zip(re, im)]
        low, pl = 0, power[0]
        for k in 1, 2, 3:
            if power[k] > pl:
                low, pl = k, power[k]
        high, ph = 4, power[4]
        for k in 5, 6, 7:
            if power[k] > ph:
                high, ph = k, power[k]
        if pl < self._level or ph < self._level:
            return ""
        if not self._twist_lo * pl <= ph <= self._twist_hi * pl:
            return ""
        if pl + ph < FRACTION_MIN * energy:
            return ""
        nf = len(FREQS)
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
