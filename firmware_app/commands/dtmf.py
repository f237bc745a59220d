"""Print the DTMF digits heard in an audio file, on one line.

The file may be any WAV (or FLAC, MP3, Vorbis) at any rate and with any
number of channels; it is decoded by the same decoder as <Play> (channels
averaged, resampled to 8 kHz) and fed to the same streaming detector a live
line uses, in 20 ms frames, block by block, so a long file needs little memory.
"""

from __future__ import annotations

import sys


def add_arguments(parser) -> None:
    parser.add_argument("file", help="audio file to listen to")


def main(args) -> int:
    import numpy as np

    from firmware_app.listen.dtmf import DtmfDetector
    from firmware_app.speak.audio import FRAME, AudioError, stream

    detector = DtmfDetector()
    digits = []
    carry = np.zeros(0, np.int16)
    try:
        for block in stream(args.file):
            pcm = np.concatenate([carry, block])
            whole = len(pcm) - len(pcm) % FRAME
            for start in range(0, whole, FRAME):
                digits.append(detector.feed(pcm[start:start + FRAME]))
            carry = pcm[whole:]
    except AudioError as exc:
        print(f"ivrbox dtmf: {exc}", file=sys.stderr)
        return 1
    if len(carry):
        digits.append(detector.feed(np.concatenate([carry, np.zeros(FRAME - len(carry), np.int16)])))
    print("".join(digits))
    return 0
