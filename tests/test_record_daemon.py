"""The daemon's recordings: `serve()` (what `ivrbox run` runs) starts the
recordings server on the configured address, a call's message lands in the
store that `ivrbox recordings` lists, and the server stops with the daemon."""

import asyncio
import socket
import subprocess

from drivers.sim import SimLine
from firmware_app.commands.run import serve
from firmware_app.commands.simulate import caller_voice
from firmware_app.config import load
from firmware_app.speak.tts import Synthesizer
from simulate import IVRBOX
from voicemail_app import VoicemailApp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_message_left_with_the_daemon_is_served_then_listed(tmp_path):
    port = free_port()
    path = tmp_path / "config.toml"
    path.write_text(f'[recordings]\ndir = "{tmp_path / "rec"}"\nport = {port}\n'
                    f'[outbox]\npath = "{tmp_path / "o.sqlite"}"\n[cache]\ndir = "{tmp_path / "cache"}"\n')
    config = load(path)
    with VoicemailApp() as app:
        config["server"]["url"] = app.url("/voice")
        line = SimLine(script="wait:listen say:'hello this is Ann, call me back' wait:0.5 dtmf:#",
                       caller="+4930123456", **caller_voice(Synthesizer()))
        assert asyncio.run(serve(config, calls=1, line=line)) == 1
        p = app.of("/handle-recording")[0]
        status, kind, body = app.downloads[p["RecordingSid"]]
    assert p["RecordingUrl"].startswith(f"http://127.0.0.1:{port}/2010-04-01/Accounts/")
    assert (status, kind) == (200, "audio/x-wav") and len(body) > 16000
    with socket.socket() as s:                              # the server stopped with the daemon
        assert s.connect_ex(("127.0.0.1", port)) != 0
    listed = subprocess.run([IVRBOX, "recordings", "list", "--config", str(path)], capture_output=True, text=True,
                            timeout=30)
    assert listed.returncode == 0
    line = listed.stdout.splitlines()[1]
    assert line.startswith(p["RecordingSid"]) and "+4930123456" in line and "heard" in line
