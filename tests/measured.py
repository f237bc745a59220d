"""Run a command and measure its peak resident memory (the child's own, from wait4)."""

from __future__ import annotations

import os
import signal
import sys
import subprocess
import tempfile
from dataclasses import dataclass


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    peak_mb: float


# A child's peak RSS counts the memory of the process that started it (Linux keeps the high-water
# mark across exec), so once the test process grows past a bound every measurement would fail:
# the command is started from this small launcher, which reports the command's own peak.
LAUNCHER = """import os, sys
pid = os.spawnvp(os.P_NOWAIT, sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\npeak-kb={usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(cmd: list[str], timeout: float = 120) -> Measured:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, *cmd], stdout=out, stderr=err,
                                start_new_session=True)
        try:
            _, status, _ = _wait4(proc.pid, timeout)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stderr, _, peak_kb = err.read().decode().rpartition("\npeak-kb=")
        return Measured(proc.returncode, out.read().decode(), stderr, int(peak_kb) / 1024)


def _wait4(pid: int, timeout: float):
    import time

    deadline = time.monotonic() + timeout
    while True:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited:
            return waited, status, usage
        if time.monotonic() > deadline:
            raise TimeoutError(f"pid {pid} still running after {timeout} s")
        time.sleep(0.02)
