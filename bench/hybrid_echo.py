"""A 2-wire line's hybrid between a fake card's speaker and its microphone, in real time.

    python bench/hybrid_echo.py CARD 10dB,20ms

Reads what the box plays from ``CARD_spk.monitor`` (parec), adds its
echo through ``drivers.impair``'s hybrid to the caller's audio (raw 8 kHz
s16le on stdin, played as it arrives) and plays the sum into ``CARD_mic``
(pacat). It keeps the echo path's delay fixed: when it falls behind real
time (a stall on a loaded machine) it drops frames rather than let
PulseAudio's buffers grow. Ends when stdin closes.
"""

import os
import queue
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from drivers.constants import FRAME_BYTES, FRAME_SECONDS  # noqa: E402
from drivers.impair import Impairments  # noqa: E402

PCM_ARGS = ["--raw", "--rate=8000", "--channels=1", "--format=s16le", "--latency-msec=20"]
AHEAD = 5  # frames pacat holds beyond real time: room for this process to be late without an underrun


def main(card: str, echo: str) -> None:
    impairments = Impairments.parse(f"echo={echo}")
    out = subprocess.Popen(["pacat", "--playback", f"--device={card}_mic", *PCM_ARGS], stdin=subprocess.PIPE)
    inp = subprocess.Popen(["parec", f"--device={card}_spk.monitor", *PCM_ARGS], stdout=subprocess.PIPE)
    caller: queue.Queue[bytes] = queue.Queue()

    def read_caller():
        while frame := sys.stdin.buffer.read(FRAME_BYTES):
            caller.put(frame.ljust(FRAME_BYTES, b"\0"))
        inp.terminate()

    threading.Thread(target=read_caller, daemon=True).start()
    out.stdin.write(bytes(FRAME_BYTES * AHEAD))
    out.stdin.flush()
    print("ready", flush=True)
    start, written, pending, dropped = time.monotonic(), AHEAD, None, 0
    while len(frame := inp.stdout.read(FRAME_BYTES)) == FRAME_BYTES:
        try:
            near = caller.get_nowait()
        except queue.Empty:
            near = bytes(FRAME_BYTES)
        if written - (time.monotonic() - start) / FRAME_SECONDS <= AHEAD:
            out.stdin.write(impairments.line(near, pending))
            out.stdin.flush()
            written += 1
        else:
            dropped += 1
        pending = impairments.echo(frame)
    out.stdin.close()
    out.wait()
    inp.wait()
    print(f"hybrid echo: {dropped} frames dropped to keep its delay", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
