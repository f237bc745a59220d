"""The console's parts without a browser: `ivrbox console passwd`, the call history, its config keys."""

from __future__ import annotations

import subprocess
import time

import pytest

from firmware_app.config import ConfigError, load
from console_box import verifies
from firmware_app.console.auth import LoginLimiter, Sessions
from firmware_app.console.history import History
from simulate import IVRBOX


def test_passwd_writes_a_hash_the_box_accepts_and_keeps_the_rest(tmp_path):
    config = tmp_path / "box.toml"
    config.write_text('[server]\nurl = "flows:/demo/index.xml"  # the demo\n\n[console]\nkeep_days = 3.0\n')
    config.chmod(0o640)
    proc = subprocess.run([IVRBOX, "console", "passwd", "--config", str(config)], input="a long secret\n",
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    loaded = load(config)
    assert verifies("a long secret", loaded["console"]["password_hash"])
    assert not verifies("a long secreT", loaded["console"]["password_hash"])
    assert loaded["console"]["keep_days"] == 3.0
    assert '# the demo' in config.read_text() and "a long secret" not in config.read_text()
    assert config.stat().st_mode & 0o777 == 0o640
    again = subprocess.run([IVRBOX, "console", "passwd", "--config", str(config)], input="another secret\n",
                           capture_output=True, text=True, timeout=30)
    assert again.returncode == 0 and config.read_text().count("password_hash") == 1
    assert verifies("another secret", load(config)["console"]["password_hash"])


def test_passwd_refuses_a_short_password_and_changes_nothing(tmp_path):
    config = tmp_path / "box.toml"
    config.write_text("[console]\n")
    proc = subprocess.run([IVRBOX, "console", "passwd", "--config", str(config)], input="short\n",
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "at least 8 characters" in proc.stderr and "Traceback" not in proc.stderr
    assert config.read_text() == "[console]\n"


@pytest.mark.parametrize("key, value, message", [
    ("listen", '"8080"', "must be HOST:PORT"),
    ("listen", '"[::1:80"', "IPv6 address goes in brackets"),
    ("listen", '"127.0.0.1:99999"', "from 0 to 65535"),
    ("password_hash", '"hunter2"', "set it with `ivrbox console passwd`"),
    ("keep_days", "0", "must be greater than 0"),
])
def test_bad_console_settings_are_named(tmp_path, key, value, message):
    config = tmp_path / "box.toml"
    config.write_text(f"[console]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as raised:
        load(config)
    assert f"[console] {key}: " in str(raised.value) and message in str(raised.value)


def test_history_keeps_calls_for_keep_days_and_searches_them(tmp_path):
    history = History(tmp_path / "console.sqlite", keep_days=2)
    now = time.time()
    history.started("CAold", line=1, caller="+1 555 0100", name="", at=now - 3 * 86400)
    history.started("CAnew", line=2, caller="+15550199", name="Ann", at=now)
    history.ended("CAnew", outcome="completed", duration=3.5, by="caller", reason="",
                  events=[{"t": 0.0, "event": "say", "text": "Hi"}, {"t": 3.5, "event": "hangup", "by": "caller"}])
    assert [c["sid"] for c in history.search()] == ["CAnew"], "a call older than keep_days is gone"
    assert [c["sid"] for c in history.search(number="555-0199")] == ["CAnew"]
    assert history.search(number="0100") == []
    today = time.strftime("%Y-%m-%d", time.localtime(now))
    assert [c["sid"] for c in history.search(date=today)] == ["CAnew"]
    assert history.search(date="2001-01-01") == []
    with pytest.raises(ValueError):
        history.search(date="yesterday")
    call = history.get("CAnew")
    assert call["outcome"] == "completed" and [e["event"] for e in call["events"]] == ["say", "hangup"]
    history.close()
    reopened = History(tmp_path / "console.sqlite", keep_days=2)
    assert reopened.get("CAnew")["duration"] == 3.5


def test_sessions_and_login_limits_stay_bounded():
    sessions = Sessions(max_sessions=3)
    made = [sessions.new() for _ in range(5)]
    assert sessions.get(made[0].id) is None and sessions.get(made[-1].id) is made[-1]
    limiter = LoginLimiter(failures=2, window=60)
    limiter.failed("10.0.0.1")
    assert limiter.wait("10.0.0.1") == 0
    limiter.failed("10.0.0.1")
    assert 0 < limiter.wait("10.0.0.1") <= 60 and limiter.wait("10.0.0.2") == 0
