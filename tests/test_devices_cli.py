"""`ivrbox devices`, run as a real process against fake modems on ptys."""

import os
import pathlib
import subprocess
import sys

import serial

from fake_modem import FakeModem
from bench.pulse import fake_card, unique

ROOT = pathlib.Path(__file__).resolve().parent.parent


def devices(*args, env=None):
    done = subprocess.run([sys.executable, "-m", "firmware_app", "devices", "--timeout", "0.3", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def section(out: str, path: str) -> str:
    """The lines about one port."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {path}  "))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")), len(lines))
    return "\n".join(lines[start:end])


def test_lists_both_modem_classes_with_identity_and_codecs_and_the_sound_card():
    card = unique("ivrtest_devices")
    with FakeModem("usr5637") as usr, FakeModem("cx93001") as cx, fake_card(card):
        out = devices("--port", usr.path, "--port", cx.path)
    assert out.startswith("serial ports:\n")
    usr_part = section(out, usr.path)
    assert "modem: 5601; U.S. Robotics 56K FAX USB V1.2.23" in usr_part
    assert "classes: 0,1,1.0,2,2.0,8" in usr_part
    assert '131 "ULAW" 8-bit at 7200,8000 Hz' in usr_part
    assert f"this box would use ulaw (ULAW): modem://{usr.path}" in usr_part
    cx_part = section(out, cx.path)
    assert "modem: 56000; CX93001-EIS_V0.2002-V92" in cx_part
    assert '129 "IMA ADPCM" 4-bit at 7200,8000,11025 Hz' in cx_part
    assert f"this box would use linear (UNSIGNED PCM): modem://{cx.path}" in cx_part
    # probing leaves the modem as it found it, in data mode
    assert cx.commands[-3:] == ["AT+FCLASS=8", "AT+VSM=?", "AT+FCLASS=0"] and cx.fclass == 0
    sound = out[out.index("\nsound cards:\n"):]
    ours = next(line for line in sound.splitlines() if line.startswith(f"  {card}: "))
    assert ours.endswith(", takes 8000,16000,44100,48000 Hz"), ours


def test_ports_that_are_silent_missing_or_busy():
    with FakeModem() as silent, FakeModem() as busy:
        silent.wedge("never")
        with serial.Serial(busy.path, exclusive=True):
            out = devices("--port", silent.path, "--port", "/dev/ttyNOPE7", "--port", busy.path)
    assert "no answer to AT: not a modem, or a modem that is wedged" in section(out, silent.path)
    assert "cannot open: no such device (is the modem plugged in?" in section(out, "/dev/ttyNOPE7")
    assert "cannot open: in use by another program" in section(out, busy.path)


def test_sound_that_cannot_load_is_reported_not_fatal(tmp_path):
    (tmp_path / "pyaudio.py").write_text('raise ImportError("no PortAudio on this box")\n')
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    with FakeModem() as modem:
        out = devices("--port", modem.path, env=env)
    assert "sound: unavailable (ImportError: no PortAudio on this box)" in out
    assert "modem: 5601" in section(out, modem.path)
