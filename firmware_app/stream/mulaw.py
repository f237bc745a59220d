"""G.711 µ-law, the Media Streams payload format.

On a 20 ms frame the stdlib's audioop is about four times faster than numpy
lookup tables (bench/stream_bench.py measures both), so the box uses it
where it exists; Python 3.13 dropped it, and there the tables, which give
the same bytes, take over.

    >>> pcm = (np.arange(-8, 8, dtype="<i2") * 1000).tobytes()
    >>> back = np.frombuffer(decode(encode(pcm)), "<i2")
    >>> int(np.abs(back - np.frombuffer(pcm, "<i2")).max()) < 200
    True
    >>> table_encode(pcm) == encode(pcm)
    True
    >>> decode(b"\\xff\\x7f")
    b'\\x00\\x00\\x00\\x00'
"""

from __future__ import annotations

import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:                                  # Python 3.13 and later
        audioop = None

BIAS = 0x84         # decoding, on 16 bits
CLIP = 8158          # encoding, on 14 bits: the loudest code


def _decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + BIAS) << exponent
    return np.where(u & 0x80, BIAS - magnitude, magnitude - BIAS).astype("<i2")


def _encode_table() -> np.ndarray:
    x = np.arange(65536, dtype=np.int32)
    x = np.where(x >= 32768, x - 65536, x)           # the uint16 view of int16 samples
    x = x >> 2                                       # G.711 works on 14 bits
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), CLIP) + 0x21
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 5
    mantissa = (magnitude >> (exponent + 1)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


DECODE = _decode_table()
ENCODE = _encode_table()


def table_encode(pcm: bytes) -> bytes:
    """16-bit little-endian PCM to µ-law, one byte a sample."""
    return ENCODE[np.frombuffer(pcm, dtype="<u2")].tobytes()


def table_decode(ulaw: bytes) -> bytes:
    """µ-law to 16-bit little-endian PCM."""
    return DECODE[np.frombuffer(ulaw, dtype=np.uint8)].tobytes()


if audioop is not None:
    def encode(pcm: bytes) -> bytes:
        return audioop.lin2ulaw(pcm, 2)

    def decode(ulaw: bytes) -> bytes:
        return audioop.ulaw2lin(ulaw, 2)
else:
    encode, decode = table_encode, table_decode
