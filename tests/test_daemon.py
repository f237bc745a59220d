"""`ivrbox run` as a daemon: lines from config, and a failing line reopened, not fatal."""

import subprocess
import time

from simulate import IVRBOX


def test_a_missing_device_is_logged_and_retried_without_exiting(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[line]\nurl = ["modem:///dev/ivrbox-no-such-modem"]\n')
    proc = subprocess.Popen([IVRBOX, "run", "--config", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4)
        assert proc.poll() is None, "the daemon exited instead of retrying the line"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    attempts = [line for line in err.splitlines() if "ivrbox-no-such-modem" in line and "reopening" in line]
    assert len(attempts) >= 2, err
    assert "Traceback" not in err


def test_a_list_of_line_urls_is_checked_entry_by_entry(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[line]\nurl = ["console:", "fax://1"]\n')
    proc = subprocess.run([IVRBOX, "run", "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "[line] url: unknown line URL 'fax://1'" in proc.stderr


def test_what_the_line_reported_before_a_call_is_not_that_calls(server):
    """A handset put down after the last call, or keys pressed while idle, must
    neither end the next call nor answer its first gather."""
    import asyncio

    from drivers.sim import SimLine
    from firmware_app.call import Call
    from firmware_app.config import load
    from firmware_app.web import build_fetcher
    from simulate import of

    server.routes["/start"] = '<Response><Gather numDigits="1" action="/next" timeout="2"/><Say>none</Say></Response>'
    server.routes["/next"] = "<Response/>"
    config = load(None)
    config["server"]["url"] = server.url("/start")
    events = []
    line = SimLine(script="wait:1 dtmf:4")
    line.post("hook", "on")
    line.post("key", "7")
    call = Call(line, config, fetcher=build_fetcher(config), sinks=[events.append])
    asyncio.run(call.run(asyncio.run(line.wait_for_call())))
    assert of(events, "gather")[0]["digits"] == "4"
    assert events[-1]["event"] == "hangup" and events[-1]["by"] == "box"


def test_the_console_exits_when_its_input_ends():
    proc = subprocess.run([IVRBOX, "run"], input="", capture_output=True, text=True, timeout=30,
                          env={**__import__("os").environ, "PULSE_SERVER": "unix:/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    assert "hung up by caller" in proc.stdout
    assert proc.stdout.count("Connected.") == 1
