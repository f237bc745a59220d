"""Run the real ``ivrbox simulate`` command and read its JSON events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

IVRBOX = str(Path(sys.executable).with_name("ivrbox"))


def simulate(url: str, caller: str = "", *args: str, config: str | None = None, check: bool = True,
             timeout: float = 60) -> list[dict]:
    cmd = [IVRBOX, "simulate", url, "--caller", caller, *args]
    if os.environ.get("IVRBOX_TEST_STATE"):  # run a whole suite on one persistent state (test_web_faults)
        cmd += ["--state", os.environ["IVRBOX_TEST_STATE"]]
    if config:
        cmd += ["--config", config]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"ivrbox simulate exited {proc.returncode}: {proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines()]


def of(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["event"] == name]


def names(events: list[dict]) -> list[str]:
    return [e["event"] for e in events]
