"""The console line: `ivrbox run` on the bundled default, driven from a real terminal (a pty)."""

import os
import pty
import select
import subprocess
import time

from simulate import IVRBOX


def read_until(fd, text, buf, timeout=20.0):
    """Read until ``text`` appears after what earlier calls consumed (buf[1] marks that)."""
    end = time.monotonic() + timeout
    while text not in buf[0][buf[1]:]:
        left = end - time.monotonic()
        assert left > 0, f"never saw {text!r}; output so far:\n{buf[0]}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096).decode(errors="replace")
            assert chunk, f"output ended before {text!r}:\n{buf[0]}"
            buf[0] += chunk
    buf[1] = buf[0].index(text, buf[1]) + len(text)


def test_make_run_default_answers_typed_keys_on_a_terminal():
    keyboard, tty_side = pty.openpty()
    out_r, out_w = os.pipe()
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent"}  # no sound: prompts are printed only
    proc = subprocess.Popen([IVRBOX, "run", "--calls", "1"], stdin=tty_side, stdout=out_w, stderr=out_w, env=env)
    os.close(tty_side)
    os.close(out_w)
    buf = ["", 0]
    try:
        read_until(out_r, "Press 0 to hang up.", buf)
        os.write(keyboard, b"2")  # one keystroke, no Enter: the terminal is in cbreak mode
        read_until(out_r, "box says: Enter a number", buf)
        os.write(keyboard, b"42#")
        read_until(out_r, "box heard: 42", buf)
        read_until(out_r, "Press 0 to hang up.", buf)
        os.write(keyboard, b"0")
        read_until(out_r, "hung up by box", buf)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        os.close(keyboard)
        os.close(out_r)
    assert "box heard: 2" in buf[0] and "box says: Goodbye!" in buf[0]
    assert "Traceback" not in buf[0]
