"""The one audio decoder: any file to the line's format, 8 kHz signed 16-bit mono.

miniaudio decodes WAV, FLAC, MP3 and Vorbis at the file's own rate and
channel count, block by block; the channels are averaged (any count) and
soxr resamples to 8 kHz. Memory is bounded by the decoded duration, not the
file: decoding stops at ``max_seconds`` of output. Declared rates outside
``min_rate``..``max_rate`` are refused before anything is decoded.

    >>> import io, wave
    >>> buf = io.BytesIO()
    >>> with wave.open(buf, "wb") as w:
    ...     w.setnchannels(6); w.setsampwidth(2); w.setframerate(44100); w.writeframes(bytes(12 * 44100))
    >>> decoded = decode(buf.getvalue())
    >>> len(decoded.pcm), decoded.cut   # one second at 8 kHz, 2 bytes a sample
    (16000, False)
    >>> decode(buf.getvalue(), max_seconds=0.5).cut
    True
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from drivers.constants import FRAME_SAMPLES as FRAME
from drivers.constants import RATE

from ..config import SCHEMA

MIN_RATE = SCHEMA["media"]["min_sample_rate"][1]
MAX_RATE = SCHEMA["media"]["max_sample_rate"][1]
BLOCK_FRAMES = 16384  # source frames per miniaudio read
KNOWN_WAV_TAGS = {0x0001: "PCM", 0x0003: "IEEE float", 0x0006: "A-law", 0x0007: "µ-law",
                  0x0002: "MS ADPCM", 0x0011: "IMA ADPCM", 0xFFFE: "extensible"}


class AudioError(ValueError):
    """The audio is missing, empty, not decodable, or declares an unusable format."""


@dataclass
class Decoded:
    pcm: bytes
    cut: bool  # stopped at max_seconds; the rest of the file was not decoded


def _describe(head: bytes) -> str:
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "HTML, not audio"
    tag = wav_format_tag(head)
    if tag is not None and tag not in KNOWN_WAV_TAGS:
        return f"a WAV whose format tag 0x{tag:04x} is not one the box decodes ({', '.join(KNOWN_WAV_TAGS.values())})"
    return "not a readable audio file (WAV, FLAC, MP3 or Ogg Vorbis)"


def wav_format_tag(head: bytes) -> int | None:
    """The format tag of a RIFF/WAVE header, or None if HEAD is not one.

    >>> wav_format_tag(b"RIFF\\0\\0\\0\\0WAVEfmt \\x10\\0\\0\\0\\x34\\x12\\x01\\0\\x40\\x1f\\0\\0")
    4660
    """
    fmt = _wav_fmt(head)
    return fmt[0] if fmt else None


def _wav_fmt(head: bytes) -> tuple[int, int] | None:
    """(format tag, declared sample rate) from a RIFF/WAVE header."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 16 <= len(head):
        kind, size = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if kind == b"fmt ":
            tag, _, rate = struct.unpack_from("<HHI", head, pos + 8)
            return tag, rate
        pos += 8 + size + (size & 1)
    return None


def _check_rate(rate: int, min_rate: int, max_rate: int) -> None:
    if not min_rate <= rate <= max_rate:
        raise AudioError(f"the audio declares a sample rate of {rate} Hz; the box plays {min_rate} to {max_rate} Hz")


class _Source:
    """An open miniaudio decoder at the file's own rate and channel count."""

    def __init__(self, source: bytes | str, min_rate: int, max_rate: int):
        import miniaudio  # loaded with the first audio file, not at start-up
        self.name = source if isinstance(source, str) else "the audio"
        if isinstance(source, str):
            try:
                if os.path.isdir(source):
                    raise AudioError(f"{source}: is a directory, not an audio file")
                with open(source, "rb") as f:
                    self.head = f.read(4096)
            except OSError as e:
                raise AudioError(f"{source}: {e.strerror}") from None
        else:
            self.head = source[:4096]
        if not self.head:
            raise AudioError(f"{source}: empty file, not audio" if isinstance(source, str) else "the audio is empty")
        fmt = _wav_fmt(self.head)
        if fmt:  # before miniaudio, which says less, or decodes nothing and says nothing
            if fmt[0] not in KNOWN_WAV_TAGS:
                raise AudioError(f"cannot decode {self.name}: {_describe(self.head)}")
            _check_rate(fmt[1], min_rate, max_rate)
        channels, rate = self._probe(source)
        _check_rate(rate, min_rate, max_rate)
        self.channels, self.rate = channels, rate
        self.frames = 0  # decoded so far, at the file's rate
        f32 = miniaudio.SampleFormat.FLOAT32
        try:
            if isinstance(source, str):
                self.blocks = miniaudio.stream_file(source, f32, channels, rate, BLOCK_FRAMES)
            else:
                self.blocks = miniaudio.stream_memory(source, f32, channels, rate, BLOCK_FRAMES)
        except miniaudio.MiniaudioError as e:
            raise AudioError(f"cannot decode {self.name}: {e}") from None

    def _probe(self, source: bytes | str) -> tuple[int, int]:
        import miniaudio  # loaded with the first audio file, not at start-up
        ffi, lib = miniaudio.ffi, miniaudio.lib
        decoder = ffi.new("ma_decoder *")
        config = lib.ma_decoder_config_init(lib.ma_format_f32, 0, 0)  # 0, 0: the file's own
        if isinstance(source, str):
            result = lib.ma_decoder_init_file(os.fsencode(source), ffi.addressof(config), decoder)
        else:
            result = lib.ma_decoder_init_memory(source, len(source), ffi.addressof(config), decoder)
        if result != lib.MA_SUCCESS:
            raise AudioError(f"cannot decode {self.name}: {_describe(self.head)}")
        try:
            return decoder.outputChannels, decoder.outputSampleRate
        finally:
            lib.ma_decoder_uninit(decoder)

    def mono(self) -> Iterator[np.ndarray]:
        """Float32 mono blocks at the file's rate: every channel weighs the same."""
        for block in self.blocks:
            self.frames += len(block) // self.channels
            yield np.frombuffer(block, dtype=np.float32).reshape(-1, self.channels).mean(axis=1)


def stream(source: bytes | str, max_seconds: float | None = None, min_rate: int = MIN_RATE,
           max_rate: int = MAX_RATE) -> Iterator[np.ndarray]:
    """Decode SOURCE (bytes, or a path) to 8 kHz int16 blocks, lazily.

    Raises AudioError at once if it cannot be opened, or while iterating if
    it turns out damaged or empty; ``cut`` on the returned Blocks says that
    ``max_seconds`` stopped it.
    """
    return Blocks(_Source(source, min_rate, max_rate), max_seconds)


class Blocks:
    """An iterator of 8 kHz int16 blocks, with ``cut`` set when max_seconds stopped it."""

    def __init__(self, source: _Source, max_seconds: float | None):
        self.source = source
        self.left = None if max_seconds is None else int(max_seconds * RATE)
        self.cut = False
        self.total = 0
        self._it = self._run()

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        return next(self._it)

    def _run(self) -> Iterator[np.ndarray]:
        import miniaudio  # loaded with the first audio file, not at start-up
        import soxr
        resampler = None
        if self.source.rate != RATE:
            resampler = soxr.ResampleStream(self.source.rate, RATE, 1, dtype="float32")
        try:
            for block in self.source.mono():
                out = resampler.resample_chunk(block) if resampler else block
                if (pcm := self._take(out)) is not None:
                    yield pcm
                if self.cut:
                    return
            if resampler is not None:
                rest = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
                if (pcm := self._take(rest)) is not None:
                    yield pcm
        except miniaudio.MiniaudioError as e:
            raise AudioError(f"the audio is damaged: {e}") from None
        finally:
            self.source.blocks.close()
        if self.source.frames == 0:
            raise AudioError(f"cannot decode {self.source.name}: no audio in it, {_describe(self.source.head)}")

    def _take(self, out: np.ndarray) -> np.ndarray | None:
        if self.left is not None:
            if len(out) > self.left:
                out, self.cut = out[:self.left], True
            self.left -= len(out)
        if not len(out):
            return None
        self.total += len(out)
        return np.clip(np.rint(out * 32768.0), -32768, 32767).astype(np.int16)


def decode(data: bytes, max_seconds: float | None = None, min_rate: int = MIN_RATE,
           max_rate: int = MAX_RATE) -> Decoded:
    """The whole of DATA (up to max_seconds) as 8 kHz int16 PCM bytes."""
    blocks = stream(data, max_seconds, min_rate, max_rate)
    pcm = b"".join(block.tobytes() for block in blocks)
    return Decoded(pcm, blocks.cut)


def frames(pcm: np.ndarray, size: int = FRAME) -> Iterator[np.ndarray]:
    """Yield ``size``-sample frames of ``pcm``; the last one is zero-padded."""
    for start in range(0, len(pcm), size):
        frame = pcm[start:start + size]
        if len(frame) < size:
            frame = np.concatenate([frame, np.zeros(size - len(frame), np.int16)])
        yield frame

