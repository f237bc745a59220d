"""Streaming rate conversion between a sound card's rate and the line's 8 kHz.

    >>> import numpy as np
    >>> from drivers.resample import Resampler
    >>> down = Resampler(48000, 8000)
    >>> len(down(np.zeros(960, np.int16)))
    148
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Resampler:
    """Streaming rate conversion, its state carried from chunk to chunk.

    Each output sample is a Kaiser-windowed sinc interpolation of the input
    around its exact position, so both directions keep 0..3.4 kHz flat and
    cut what would fold into it (4.6 kHz and up) by about 60 dB. Positions
    are exact integers: a long call never drifts and chunk edges never
    click. The kernel is tabulated once per phase; a 48 kHz card has one
    phase downwards and six upwards, a 44.1 kHz card 80 and 441.

    The first chunk comes out short by the kernel's half length (1.5 ms),
    after which every 20 ms in gives exactly 20 ms out:

    >>> import numpy as np
    >>> down = Resampler(48000, 8000)
    >>> [len(down(np.zeros(960, np.int16))) for _ in range(3)]
    [148, 160, 160]
    >>> up = Resampler(8000, 44100)
    >>> [len(up(np.zeros(160, np.int16))) for _ in range(3)]
    [811, 882, 882]
    """

    PASSBAND, STOPBAND = 3400.0, 4600.0
    FEW_PHASES = 8  # up to this many, each phase is one strided matrix product

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.rate_in, self.rate_out = rate_in, rate_out
        self.step = math.gcd(rate_in, rate_out)
        cutoff = (self.PASSBAND + self.STOPBAND) / 2 / rate_in  # cycles per input sample
        width = 2 * math.pi * (self.STOPBAND - self.PASSBAND) / rate_in
        self.half = int(math.ceil(52 / (2.285 * width) / 2))  # 60 dB Kaiser length
        m = np.arange(1 - self.half, self.half + 1)
        frac = np.arange(rate_out // self.step)[:, None] * self.step / rate_out
        d = frac - m
        window = np.i0(5.65 * np.sqrt(np.clip(1 - (d / self.half) ** 2, 0, None))) / np.i0(5.65)
        table = 2 * cutoff * np.sinc(2 * cutoff * d) * window
        self.table = (table / table.sum(axis=1, keepdims=True)).astype(np.float32)
        self.buf = np.zeros(self.half, np.float32)
        self.pos = self.half * rate_out  # next output, in 1/rate_out input samples from buf[0]
        if rate_out == self.step:  # down by a whole factor: the kernel in blocks of one output step
            factor = rate_in // rate_out
            blocks = -(-2 * self.half // factor)
            self._blocks = np.zeros(blocks * factor, np.float32)
            self._blocks[:2 * self.half] = self.table[0]
            self._blocks = self._blocks.reshape(blocks, factor)
        self._rows = np.zeros((0, 2 * self.half), np.intp)

    def _window(self, rows: int) -> np.ndarray:
        """Indexes of ROWS consecutive windows of the kernel's length."""
        if len(self._rows) < rows:
            self._rows = np.arange(rows)[:, None] + np.arange(2 * self.half)
        return self._rows[:rows]

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        if self.rate_in == self.rate_out:
            return samples.astype(np.int16, copy=False)
        buf = np.concatenate((self.buf, samples.astype(np.float32)))
        last = (len(buf) - self.half) * self.rate_out - 1  # latest position with all taps present
        count = (last - self.pos) // self.rate_in + 1 if self.pos <= last else 0
        phases = self.rate_out // self.step
        first = self.pos // self.rate_out + 1 - self.half  # where the first output's window starts
        if not count:
            y = np.empty(0, np.float32)
        elif self.rate_in == self.step:
            # Up by a whole factor: the outputs of one input step share its
            # window, one row of a single product with every phase's kernel.
            skip = self.pos % self.rate_out // self.rate_in
            rows = (skip + count + phases - 1) // phases
            y = (buf[first:][self._window(rows)] @ self.table.T).ravel()[skip:skip + count]
        elif self.rate_out == self.step:
            # Down by a whole factor: each kernel's slice of the input is a
            # block of whole steps, so one product per block row needs no copy.
            factor = self.rate_in // self.rate_out
            blocks = len(self._blocks)
            need = (count + blocks - 1) * factor
            span = buf[first:first + need]
            if len(span) < need:  # the last block runs past the input, into the kernel's zero padding
                span = np.concatenate((span, np.zeros(need - len(span), np.float32)))
            span = span.reshape(-1, factor)
            y = span[:count] @ self._blocks[0]
            for block in range(1, blocks):
                y += span[block:block + count] @ self._blocks[block]
        elif phases <= self.FEW_PHASES:
            windows = sliding_window_view(buf, 2 * self.half)
            # Outputs of one phase start their windows a fixed stride apart:
            # one strided slice and one matrix product per phase (a contiguous
            # copy first: a product over overlapping rows gets no BLAS).
            y = np.empty(count, np.float32)
            for phase in range(min(phases, count)):
                p = self.pos + self.rate_in * phase
                start = p // self.rate_out + 1 - self.half
                n = len(range(phase, count, phases))
                taps = np.ascontiguousarray(windows[start::self.rate_in // self.step][:n])
                y[phase::phases] = taps @ self.table[(p % self.rate_out) // self.step]
        else:
            p = self.pos + self.rate_in * np.arange(count, dtype=np.int64)
            taps = sliding_window_view(buf, 2 * self.half)[p // self.rate_out + 1 - self.half]
            y = np.einsum("ij,ij->i", taps, self.table[(p % self.rate_out) // self.step])
        following = self.pos + count * self.rate_in
        drop = following // self.rate_out - self.half + 1
        self.buf, self.pos = buf[drop:], following - drop * self.rate_out
        y = np.rint(y)
        return np.minimum(np.maximum(y, -32768, out=y), 32767, out=y).astype(np.int16)

    def pcm(self, data: bytes) -> bytes:
        """The same for 16-bit PCM bytes, as a sound card carries them.

        >>> len(Resampler(48000, 8000).pcm(bytes(1920)))
        296
        """
        if self.rate_in == self.rate_out:
            return data
        return self(np.frombuffer(data, np.int16)).tobytes()
