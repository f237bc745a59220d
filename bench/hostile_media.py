"""Hostile and odd media for the tests and the benchmark, made in memory.

    >>> len(flac_silence(3600)) < 100_000      # an hour of silence in under 100 KB
    True
    >>> wav(b"", rate=1)[24:28]                 # a WAV that declares 1 Hz
    b'\\x01\\x00\\x00\\x00'
"""

from __future__ import annotations

import struct

import numpy as np

from firmware_app.listen.tones import dtmf_audio

FLAC_BLOCK = 4096


def _table(poly: int, width: int) -> list[int]:
    top, mask = 1 << (width - 1), (1 << width) - 1
    table = []
    for byte in range(256):
        crc = byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
        table.append(crc)
    return table


CRC8, CRC16 = _table(0x07, 8), _table(0x8005, 16)


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = CRC8[crc ^ byte]
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ CRC16[(crc >> 8) ^ byte]
    return crc


def _utf8_number(n: int) -> bytes:
    """FLAC's frame number: UTF-8's coding, extended to 36 bits."""
    if n < 0x80:
        return bytes([n])
    for length in range(2, 8):
        if n < 1 << (5 * length + 1):
            out = [0x80 | ((n >> (6 * i)) & 0x3F) for i in range(length - 1)][::-1]
            lead = (0xFF << (8 - length)) & 0xFF | (n >> (6 * (length - 1)))
            return bytes([lead, *out])
    raise ValueError(n)


def flac_silence(seconds: float, rate: int = 8000) -> bytes:
    """A mono 16-bit FLAC of digital silence: each block is one CONSTANT subframe,
    so ten hours at 8 kHz take about 0.9 MB."""
    assert rate == 8000, "the frame header codes 8 kHz only"
    total = int(seconds * rate)
    info = struct.pack(">HH", FLAC_BLOCK, FLAC_BLOCK) + bytes(6)
    info += ((rate << 44) | (0 << 41) | (15 << 36) | total).to_bytes(8, "big") + bytes(16)
    out = [b"fLaC", bytes([0x80, 0, 0, len(info)]), info]
    frames, left = 0, total
    while left > 0:
        size = min(FLAC_BLOCK, left)
        code = 0xC if size == FLAC_BLOCK else 0x7
        header = bytes([0xFF, 0xF8, (code << 4) | 0x4, 0x08]) + _utf8_number(frames)
        if code == 0x7:
            header += struct.pack(">H", size - 1)
        header += bytes([_crc8(header)])
        frame = header + b"\x00\x00\x00"  # CONSTANT subframe, value 0
        out.append(frame + struct.pack(">H", _crc16(frame)))
        frames += 1
        left -= size
    return b"".join(out)


def wav(data: bytes, rate: int = 8000, channels: int = 1, bits: int = 16, tag: int = 1) -> bytes:
    """A RIFF/WAVE file with any header values, true or not."""
    byte_rate, block_align = rate * channels * bits // 8 % 2 ** 32, channels * bits // 8 % 2 ** 16  # as 32 and 16 bits
    fmt = struct.pack("<HHIIHH", tag, channels, rate, byte_rate, block_align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def dtmf_wav(keys: str, channels: int, rate: int = 44100, only: int | None = None) -> bytes:
    """KEYS as DTMF in a CHANNELS-channel WAV: in every channel, or in channel ONLY alone."""
    tones = dtmf_audio(keys, rate=rate)
    frames = np.zeros((len(tones), channels), np.int16)
    if only is None:
        frames[:] = tones[:, None]
    else:
        frames[:, only] = tones
    return wav(frames.tobytes(), rate=rate, channels=channels)


def long_text(characters: int) -> str:
    """Plain sentences, CHARACTERS long."""
    sentence = "Thank you for calling the city library, where every book is free to borrow. "
    return (sentence * (characters // len(sentence) + 1))[:characters]
