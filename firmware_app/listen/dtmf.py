"""A streaming DTMF detector for 20 ms frames of 8 kHz audio (ITU-T Q.24).

Each frame is cut into four analysis blocks: 10 ms Hann windows every 5 ms,
the first one reaching back 5 ms into the previous frame. One matrix product
gives, for every block, the complex spectrum at the eight DTMF frequencies
(and for the block before it, for phase), and the block's projection on dial
tone (350 and 440 Hz). A block is *valid* for a key when:

- the strongest low-group and high-group tones are each above -38 dBm0;
- twist (high minus low) is between -9.5 and +5.5 dB;
- the two tones hold at least 70% of the block's energy, not counting energy
  that is dial tone (talk-off guard that still hears digits over dial tone);
- both tones are within 2.5% of nominal, measured from the phase advance
  since the previous block (so +-1.5% operates and +-3.5% never does).

A key is reported once six blocks in a row are valid for it (tones from about
30 ms; 23 ms never reaches six) and the last five of them pass a 30 ms check
(``_steady``): each tone's mean frequency, from the phase advance over 20 ms,
within 1.8% of nominal, and the weaker tone, added up coherently over the
five blocks, at least as strong as everything else in them. Voiced speech
can put three quarters of a 10 ms window's energy on two DTMF bins, with two
harmonics of its pitch; at 30 ms they are off frequency or no stronger than
the harmonics around them. That is 31-52 ms after tone onset at the end of a
20 ms frame. The key stays held, and is not reported again, until five blocks
in a row are not valid for it: a 10 ms break spoils at most four, a 40 ms
pause at least six.

The cost is a few numpy calls a frame: while no block could be valid (or a
held key goes on in all four), ``feed`` returns after two matrix products.

    >>> from firmware_app.listen.audiofile import frames
    >>> from firmware_app.listen.dtmf import DtmfDetector
    >>> from firmware_app.listen.tones import dtmf_audio
    >>> det = DtmfDetector()
    >>> "".join(det.feed(frame) for frame in frames(dtmf_audio("159#")))
    '159#'
"""

from __future__ import annotations

import cmath
import functools
import math

import numpy as np

RATE = 8000
FRAME = 160
WIN = 80
HOP = 40
BLOCKS = FRAME // HOP
FREQS = (697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0)
DIAL_FREQS = (350.0, 440.0)
KEYS = "123A456B789C*0#D"  # index 4 * low + high - 4

LEVEL_MIN_DBM0 = -38.0
TWIST_MIN_DB = -9.5
TWIST_MAX_DB = 5.5
FRACTION_MIN = 0.70
DEVIATION_MAX = 0.025
MEAN_DEVIATION_MAX = 0.018
COHERENT_BLOCKS = 5
WEAK_TONE_TO_REST_MIN = 1.0
CONFIRM_BLOCKS = 6
RELEASE_BLOCKS = 5

NF = len(FREQS)
SPAN = WIN + FRAME  # samples the analysis needs: block -1 starts 80 back
SPEC = 2 * NF * (BLOCKS + 1)  # Re, Im of blocks -1..3, interleaved
DIAL = 2 * len(DIAL_FREQS) * BLOCKS

_DBM0_POWER = (32767.0 * 10 ** (-3.17 / 20)) ** 2 / 2  # power of a 0 dBm0 sine


@functools.cache
def _analysis(rate: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The matrices of the per-frame arithmetic, shared by all detectors.

    The state vector ``z`` is [spectrum (SPEC), dial (DIAL), samples (SPAN),
    1]. ``samples @ project`` fills the spectrum and dial parts: for blocks
    -1..3 the complex spectrum at the eight frequencies, scaled so that
    ``abs(c)**2`` is a tone's power in 0 dBm0 units, and for blocks 0..3 the
    coordinates on an orthonormal basis (in the Hann-weighted inner product
    that measures a block's power) of 350 and 440 Hz, so their squares add up
    to the block's dial-tone power. ``z**2 @ weigh`` then gives per block
    ``tones - F * (energy - dial) - level`` (> 0 marks a candidate block) and
    ``F * (energy - dial)``. While a key is held, its own matrix also gives
    the first sum for that key's two tones alone (> 0: the key goes on).
    """
    n = np.arange(WIN)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * (n + 0.5) / WIN)
    inner = hann / hann.sum() / _DBM0_POWER  # <u, v> = sum(inner * u * v) is power
    amp = math.sqrt(2 / _DBM0_POWER) / hann.sum()
    arg = 2 * np.pi * np.outer(n, FREQS) / rate
    dial_arg = 2 * np.pi * np.outer(n, DIAL_FREQS) / rate
    basis = np.concatenate([np.cos(dial_arg), np.sin(dial_arg)], axis=1)
    # Orthonormalise the dial basis: with G = B' diag(inner) B = L L',
    # the columns of B L'^-1 are orthonormal, and their inner products with
    # x are (diag(inner) B L'^-1)' x.
    chol = np.linalg.cholesky(basis.T @ (inner[:, None] * basis))
    dial = inner[:, None] * np.linalg.solve(chol, basis.T).T
    nd = dial.shape[1]

    project = np.zeros((SPAN, SPEC + DIAL))
    weigh = np.zeros((SPEC + DIAL + SPAN + 1, 2 * BLOCKS))
    level = 10 ** (LEVEL_MIN_DBM0 / 10)
    for b in range(-1, BLOCKS):
        rows = slice(WIN + b * HOP - HOP, WIN + b * HOP - HOP + WIN)
        col = 2 * NF * (b + 1)
        project[rows, col : col + 2 * NF : 2] = amp * hann[:, None] * np.cos(arg)
        project[rows, col + 1 : col + 2 * NF : 2] = -amp * hann[:, None] * np.sin(arg)
        if b < 0:
            continue
        project[rows, SPEC + b * nd : SPEC + (b + 1) * nd] = dial
        weigh[col : col + 2 * NF, b] = 1
        for out, sign in ((b, -1), (BLOCKS + b, 1)):
            weigh[SPEC + b * nd : SPEC + (b + 1) * nd, out] = -sign * FRACTION_MIN
            weigh[SPEC + DIAL + rows.start : SPEC + DIAL + rows.stop, out] = sign * FRACTION_MIN * inner
        weigh[-1, b] = -level
    held = {}
    for index, key in enumerate(KEYS):
        w = np.concatenate([weigh, weigh[:, :BLOCKS]], axis=1)
        for b in range(BLOCKS):
            col = 2 * NF * (b + 1)
            for k in range(NF):
                if k not in (index // 4, 4 + index % 4):
                    w[col + 2 * k : col + 2 * k + 2, 2 * BLOCKS + b] = 0
        held[key] = w
    project, weigh = project.astype(np.float32), weigh.astype(np.float32)
    held = {key: w.astype(np.float32) for key, w in held.items()}
    for m in (project, weigh, *held.values()):
        m.flags.writeable = False
    return project, weigh, held


class DtmfDetector:
    """Streaming Q.24 DTMF detector; ``feed`` one 20 ms frame at a time."""

    def __init__(self, rate: int = RATE):
        if rate != RATE:
            raise ValueError(f"DtmfDetector works at {RATE} Hz, not {rate}; resample first")
        self._project, self._weigh, self._held_weigh = _analysis(rate)
        self._advance = [2 * math.pi * f * HOP / rate for f in FREQS]
        self._turns = [cmath.exp(-1j * a) for a in self._advance]
        self._slopes = [math.tan(DEVIATION_MAX * a) for a in self._advance]
        self._level = 10 ** (LEVEL_MIN_DBM0 / 10)
        self._twist_lo = 10 ** (TWIST_MIN_DB / 10)
        self._twist_hi = 10 ** (TWIST_MAX_DB / 10)
        z = self._z = np.zeros(SPEC + DIAL + SPAN + 1, np.float32)
        self._z2 = np.zeros_like(z)
        self._power = np.zeros(SPEC // 2, np.float32)
        # Views made once, so that a frame costs no slicing.
        self._out = z[: SPEC + DIAL]
        self._samples = z[SPEC + DIAL : -1]
        self._keep_to = z[SPEC + DIAL : SPEC + DIAL + SPAN - FRAME]
        self._keep_from = z[SPEC + DIAL + FRAME : -1]
        self._new = z[SPEC + DIAL + SPAN - FRAME : -1]
        self._re2 = self._z2[:SPEC:2]
        self._im2 = self._z2[1:SPEC:2]
        self._spectrum = z[:SPEC].view(np.complex64)
        self.reset()

    def reset(self) -> None:
        """Forget all history, as at the start of a call."""
        self._z[:] = 0
        self._z[-1] = 1
        self._run_key = ""
        self._run: list[tuple] = []
        self._hold("")

    @property
    def tone(self) -> bool:
        """True while a DTMF tone is on the line, being confirmed or held, so
        voice detection can tell a key's tone from a caller's voice."""
        return bool(self._held or self._run_key)

    def _hold(self, key: str) -> None:
        self._held = key
        self._gap = 0
        self._w = self._held_weigh[key] if key else self._weigh

    def feed(self, frame) -> str:
        """Analyse one frame: 160 int16 samples, as 320 bytes or a numpy array.

        Returns the keys confirmed in this frame, normally '' or one key.
        """
        if type(frame) is not np.ndarray:
            frame = np.frombuffer(frame, "<i2")
        if len(frame) != FRAME:
            raise ValueError(f"a frame is {FRAME} samples ({2 * FRAME} bytes), got {len(frame)} samples")
        self._keep_to[:] = self._keep_from
        self._new[:] = frame
        # ndarray.dot skips np.dot's dispatch, a third of a tiny product's cost.
        self._samples.dot(self._project, out=self._out)
        sums = np.square(self._z, out=self._z2).dot(self._w).tolist()
        quiet = sums[0] <= 0 and sums[1] <= 0 and sums[2] <= 0 and sums[3] <= 0
        if self._held:
            if sums[8] > 0 and sums[9] > 0 and sums[10] > 0 and sums[11] > 0:
                self._run_key = self._held
                self._gap = 0
                return ""
            if quiet:
                self._gap += BLOCKS
                if self._gap >= RELEASE_BLOCKS:
                    self._hold("")
        if quiet:
            self._run_key = ""
            return ""
        return self._blocks(sums)

    def _blocks(self, sums: list[float]) -> str:
        """Block by block: the full check of candidates, and the state machine."""
        held = weighed = self._held  # the key the sums' last four are for
        power = spectrum = None
        out = ""
        for b in range(BLOCKS):
            if held and held == weighed and sums[2 * BLOCKS + b] > 0:
                self._run_key = held
                self._gap = 0
                continue
            key = None
            if sums[b] > 0:
                if power is None:
                    power = np.add(self._re2, self._im2, out=self._power).tolist()
                    spectrum = self._spectrum.tolist()
                key = self._classify(b, power, spectrum, sums[BLOCKS + b])
            if key is None:
                self._run_key = ""
            elif key[0] == self._run_key:
                self._run.append(key)
            else:
                self._run_key, self._run = key[0], [key]
            if held:
                if self._run_key == held:
                    self._gap = 0
                    continue
                self._gap += 1
                if self._gap < RELEASE_BLOCKS:
                    continue
                self._hold(held := "")
            if self._run_key and len(self._run) >= CONFIRM_BLOCKS and self._steady():
                self._hold(held := self._run_key)
                out += held
        return out

    def _steady(self) -> bool:
        """Is the run a keypad's two steady tones rather than voiced speech?

        Over the last COHERENT_BLOCKS blocks, the mean phase advance measures
        each tone's frequency to a few hundredths of a percent, and adding the
        blocks' spectra with that advance taken out is a 30 ms analysis of the
        tone. Speech fools a 10 ms window with two harmonics near DTMF
        frequencies (pitch 309 Hz: 926 + 1234 Hz for '*'; 154 Hz: 770 + 1231
        Hz for '4'); at this precision they are too far off frequency, or the
        weaker one is no stronger than the other harmonics around it.
        """
        run = self._run[-COHERENT_BLOCKS:]
        index = KEYS.index(self._run_key)
        powers = []
        for col, k in ((0, index // 4), (1, 4 + index % 4)):
            dev = sum(cmath.phase(r[1 + col]) for r in run[1:]) / (COHERENT_BLOCKS - 1) / self._advance[k]
            if abs(dev) > MEAN_DEVIATION_MAX:
                return False
            turn = cmath.exp(-1j * self._advance[k] * (1 + dev))
            total = 0j
            for r in reversed(run):
                total = total * turn + r[3 + col]
            powers.append(abs(total) ** 2 / COHERENT_BLOCKS**2)
        energy = sum(r[5] for r in run) / FRACTION_MIN / COHERENT_BLOCKS
        return min(powers) >= WEAK_TONE_TO_REST_MIN * (energy - powers[0] - powers[1])

    def _classify(self, b: int, power: list[float], spectrum: list[complex], floor: float):
        """(key, low turn, high turn, low, high spectrum, floor) if block ``b``
        is valid, else None.

        ``power`` and ``spectrum`` hold blocks -1..3, eight values each;
        ``floor`` is FRACTION_MIN times the block's energy less dial tone. A
        tone's *turn* is its spectrum times the previous block's conjugate,
        turned back by the nominal advance: its angle is the phase error.
        """
        at = NF * (b + 1)
        pl = max(power[at : at + 4])
        ph = max(power[at + 4 : at + 8])
        if pl < self._level or ph < self._level or pl + ph < floor:
            return None
        if not self._twist_lo * pl <= ph <= self._twist_hi * pl:
            return None
        low = power.index(pl, at, at + 4) - at
        high = power.index(ph, at + 4, at + 8) - at
        turns = self._turns
        tl = spectrum[at + low] * spectrum[at - NF + low].conjugate() * turns[low]
        if tl.real <= 0 or abs(tl.imag) > self._slopes[low] * tl.real:
            return None
        th = spectrum[at + high] * spectrum[at - NF + high].conjugate() * turns[high]
        if th.real <= 0 or abs(th.imag) > self._slopes[high] * th.real:
            return None
        return KEYS[4 * low + high - 4], tl, th, spectrum[at + low], spectrum[at + high], floor
