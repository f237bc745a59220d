"""Print the DTMF digits heard in an audio file, on one line.

The file may be any WAV (or FLAC, MP3, Vorbis) at any rate, mono or stereo;
it is mixed to mono, resampled to 8 kHz and fed to the same streaming
detector a live line uses, in 20 ms frames.
"""

from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("file", help="audio file to listen to")


def main(args) -> int:
    from firmware_app.listen.audiofile import AudioFileError, frames, read_8k
    from firmware_app.listen.dtmf import DtmfDetector

    try:
        pcm = read_8k(args.file)
    except AudioFileError as exc:
        print(f"ivrbox dtmf: {exc}", file=sys.stderr)
        return 1
    detector = DtmfDetector()
    print("".join(detector.feed(frame) for frame in frames(pcm)))
    return 0
