"""Voicemail in the web console: a message left by a real <Record> call through `ivrbox run`, played in
headless Chromium, marked heard, downloaded and deleted; recording downloads never leave the store."""

from __future__ import annotations

import json
import threading
import wave

import pytest

from console_box import (PASSWORD, Daemon, hashed, box_toml, browser_sign_in, chromium, free_port, request, screenshot,
                         sign_in, wait_until)
HASH = hashed()
CALLER = "+4930123456"


@pytest.fixture
def driver_factory(tmp_path):
    made = []

    def make():
        made.append(chromium(tmp_path / f"profile-{len(made)}"))
        return made[-1]
    yield make
    for each in made:
        each.quit()


@pytest.fixture
def voicemail_box(tmp_path, server):
    later = threading.Event()
    calls = []

    def start(rec):
        calls.append(rec)
        if len(calls) > 1:          # the looping simulated line's next calls wait until the test ends
            later.wait(60)
        return '<Response><Say>Leave a message</Say><Record action="/done" finishOnKey="#" maxLength="20"/></Response>'

    server.routes["/start"] = start
    server.routes["/done"] = "<Response><Say>Thanks</Say><Hangup/></Response>"
    port = free_port()
    toml = box_toml(tmp_path, server.url("/start"), port, password_hash=HASH,
                    script="wait:listen say:'hello this is Ann, please call me back' wait:0.5 dtmf:#",
                    caller=CALLER, extra=f'[recordings]\ndir = "{tmp_path / "rec"}"\n')
    daemon = Daemon(tmp_path, toml)
    daemon.wait_for(r"console on http://")
    daemon.port, daemon.base, daemon.rec = port, f"http://127.0.0.1:{port}", tmp_path / "rec"
    wait_until(lambda: any(r.path == "/done" for r in server.requests), "the recording's action request")
    yield daemon
    later.set()
    daemon.stop()
    assert "Traceback" not in "".join(daemon.log), "".join(daemon.log)


def test_a_recorded_message_plays_in_the_page(voicemail_box, driver_factory):
    from selenium.webdriver.common.by import By

    box = voicemail_box
    cookie, csrf = sign_in(box.port)
    recordings = json.loads(request(box.port, "GET", "/api/voicemail", cookie=cookie)[2])["recordings"]
    assert len(recordings) == 1
    rec = recordings[0]
    assert rec["caller"] == CALLER and rec["duration"] > 1.0 and rec["heard"] is False
    driver = driver_factory()
    browser_sign_in(driver, box.base)
    driver.get(box.base + "/voicemail")
    audio = driver.find_element(By.ID, f"audio-{rec['sid']}")
    duration = wait_until(lambda: driver.execute_script(
        "const a = arguments[0]; return a.readyState >= 1 && isFinite(a.duration) ? a.duration : 0", audio),
        "the audio element's metadata")
    assert abs(duration - rec["duration"]) < 0.05, (duration, rec["duration"])
    played = driver.execute_script("const a = arguments[0]; a.muted = true; return a.play().then(() => 'playing', "
                                   "e => String(e))", audio)
    assert played == "playing"
    wait_until(lambda: driver.execute_script("return arguments[0].currentTime", audio) > 0.2, "playback to advance")
    screenshot(driver, "voicemail")
    assert CALLER in driver.find_element(By.ID, f"rec-{rec['sid']}").text
    driver.find_element(By.CSS_SELECTOR, f"#rec-{rec['sid']} form[action$='/heard'] button").click()
    wait_until(lambda: "marked heard" in driver.page_source, "the mark-heard answer")
    heard = json.loads(request(box.port, "GET", "/api/voicemail", cookie=cookie)[2])["recordings"][0]
    assert heard["heard"] is True
    status, headers, _ = request(box.port, "GET", f"/voicemail/{rec['sid']}.wav?download=1", cookie=cookie)
    assert status == 200 and "attachment" in headers["content-disposition"]
    with wave.open(str(box.rec / f"{rec['sid']}.wav")) as w:
        assert w.getframerate() == 8000 and abs(w.getnframes() / 8000 - rec["duration"]) < 0.01
    driver.find_element(By.CSS_SELECTOR, f"#rec-{rec['sid']} form[action$='/delete'] button").click()
    wait_until(lambda: "deleted" in driver.page_source, "the delete answer")
    assert not (box.rec / f"{rec['sid']}.wav").exists()
    assert json.loads(request(box.port, "GET", "/api/voicemail", cookie=cookie)[2])["recordings"] == []


def test_recording_downloads_never_leave_the_store(voicemail_box):
    box = voicemail_box
    cookie, _ = sign_in(box.port)
    sid = json.loads(request(box.port, "GET", "/api/voicemail", cookie=cookie)[2])["recordings"][0]["sid"]
    status, _, body = request(box.port, "GET", f"/voicemail/{sid}.wav", cookie=cookie)
    assert status == 200 and body.startswith("RIFF")
    (box.rec / ("RE" + "f" * 32 + ".wav")).symlink_to("/etc/passwd")     # a file with no recording behind it
    secret = box.folder / "box.toml"
    for path in ["/voicemail/..%2Fbox.toml", "/voicemail/..%2F..%2F..%2Fetc%2Fpasswd.wav",
                 "/voicemail/%2e%2e%2frecordings.sqlite.wav", "/voicemail/..%2Frec%2Frecordings.sqlite",
                 f"/voicemail/{sid}%2F..%2F..%2Fbox.toml.wav", "/voicemail/RE" + "f" * 32 + ".wav",
                 f"/voicemail/{sid[:-1]}.wav", f"/voicemail/{sid}.wav%00.txt", "/voicemail/recordings.sqlite.wav",
                 f"/voicemail/{sid.upper()}.wav", "/voicemail/../../etc/passwd",
                 f"/voicemail/%252e%252e%252f{sid}.wav"]:
        status, _, body = request(box.port, "GET", path, cookie=cookie)
        assert status in (400, 404), (path, status)
        assert "root:" not in body and "password_hash" not in body and "SQLite" not in body
    assert "password_hash" in secret.read_text()
