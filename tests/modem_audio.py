"""A voice modem's codecs written out one sample at a time (classic 16-bit
G.711 and 8-bit linear, unlike the driver's numpy tables), and test tones:
the fake modem's side of the audio, so a test through both checks the driver's."""

from __future__ import annotations

import math

from drivers.constants import DTMF_HIGH, DTMF_KEYS, DTMF_LOW, RATE


def ulaw_byte(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = magnitude.bit_length() - 8
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | exponent << 4 | mantissa) & 0xFF


def ulaw_sample(byte: int) -> int:
    u = ~byte & 0xFF
    value = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 7)
    return -(value - 0x84) if u & 0x80 else value - 0x84


def encode(codec: str, pcm: bytes) -> bytes:
    samples = [int.from_bytes(pcm[i : i + 2], "little", signed=True) for i in range(0, len(pcm), 2)]
    if codec == "ulaw":
        return bytes(ulaw_byte(s) for s in samples)
    if codec == "linear":
        return bytes((s // 256) + 128 for s in samples)
    return bytes((s // 256) & 0xFF for s in samples)


def decode(codec: str, data: bytes) -> bytes:
    if codec == "ulaw":
        values = [ulaw_sample(b) for b in data]
    elif codec == "linear":
        values = [(b - 128) * 256 for b in data]
    else:
        values = [(b - 256 if b > 127 else b) * 256 for b in data]
    return b"".join(v.to_bytes(2, "little", signed=True) for v in values)


SILENCE = {"ulaw": 0xFF, "linear": 0x80, "slinear": 0x00}
DTMF_FREQS = {key: (DTMF_LOW[i // 4], DTMF_HIGH[i % 4]) for i, key in enumerate(DTMF_KEYS)}


def tone(freqs: tuple[float, ...], ms: int, level: float = 8000) -> bytes:
    """16-bit PCM at 8 kHz: the sum of sines at ``freqs``."""
    n = ms * RATE // 1000
    return b"".join(
        int(sum(level * math.sin(2 * math.pi * f * i / RATE) for f in freqs)).to_bytes(2, "little", signed=True)
        for i in range(n)
    )
