"""Run a command and measure its peak resident memory.

Linux counts a forked child's peak RSS from the moment of fork, so a child
of a large process (pytest after loading a speech model, say) reports at
least the parent's size. The command is therefore started by a small
Python process of its own, which waits for it and reports its peak: the
figure is then the command's, give or take that launcher's few MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

LAUNCHER = """
import json, resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True)
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stdout.write(json.dumps({"rc": proc.returncode, "out": proc.stdout.decode(errors="replace"),
                             "err": proc.stderr.decode(errors="replace"), "peak_kb": peak_kb}))
"""


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    peak_mb: float


def run_measured(cmd: list[str], timeout: float = 120) -> Measured:
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True,
                          timeout=timeout, check=True)
    result = json.loads(done.stdout)
    return Measured(result["rc"], result["out"], result["err"], result["peak_kb"] / 1024)
