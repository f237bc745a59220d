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
