"""The web console's test harness: a real `ivrbox run` with its console on, a TwiML server whose
routes can hold a call open, plain HTTP requests, and headless Chromium driven by selenium."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from simulate import IVRBOX

PASSWORD = "correct horse battery"
ARTIFACTS = Path(__file__).parent / "artifacts" / "console"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                  "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"]


def hashed(password: str = PASSWORD) -> str:
    """A password hash made by `ivrbox console passwd --print`. In a child process: scrypt's 16 MiB would
    otherwise raise this process's peak RSS, which every child forked later inherits in its own figure."""
    proc = subprocess.run([IVRBOX, "console", "passwd", "--print"], input=password + "\n", capture_output=True,
                          text=True, timeout=60, check=True)
    return re.search(r'password_hash = "([^"]+)"', proc.stdout).group(1)


def verifies(password: str, stored: str) -> bool:
    """verify_password() in a child process, for the same reason."""
    code = "import sys; from firmware_app.console.auth import verify_password as v; sys.exit(0 if v(*sys.argv[1:]) else 1)"
    return subprocess.run([sys.executable, "-c", code, password, stored], timeout=60).returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """`ivrbox run --config` on FOLDER with the given TOML, until stop(); its stderr is kept in ``log``."""

    def __init__(self, folder: Path, toml: str, args: tuple[str, ...] = ()):
        self.folder = folder
        self.config = folder / "box.toml"
        self.config.write_text(toml)
        self.log: list[str] = []
        self.proc = subprocess.Popen([IVRBOX, "run", "--config", str(self.config), *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.log.append(line)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.log):
                if m := re.search(pattern, line):
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} from the daemon; it said:\n{''.join(self.log)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)


def box_toml(folder: Path, server_url: str, port: int, *, host: str = "127.0.0.1", password_hash: str = "",
             script: str = "wait:listen dtmf:1", caller: str = "", extra: str = "") -> str:
    return (f'[server]\nurl = "{server_url}"\nconnect_timeout = 30.0\ntimeout = 60.0\n'
            f'auth_token = "top-secret-token"\n'
            f'[line]\nurl = "sim:?script={quote(script)}{"&caller=" + quote(caller) if caller else ""}"\n'
            f'[outbox]\npath = "{folder / "outbox.sqlite"}"\n[cache]\ndir = "{folder / "cache"}"\n'
            f'[console]\nlisten = "{host}:{port}"\npassword_hash = "{password_hash}"\ndb = "{folder / "console.sqlite"}"\n'
            + extra)


def request(port: int, method: str, path: str, *, cookie: str = "", form: dict | None = None,
            headers: dict | None = None, host: str = "127.0.0.1") -> tuple[int, dict, str]:
    """One plain HTTP request (no redirects followed): (status, headers, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    sent = dict(headers or {})
    if cookie:
        sent["Cookie"] = f"ivrbox_console={cookie}"
    body = None
    if form is not None:
        body = urlencode(form)
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode(errors="replace")
    finally:
        conn.close()


def session_cookie(headers: dict) -> str:
    m = re.search(r"ivrbox_console=([^;]+)", headers.get("set-cookie", ""))
    assert m, headers
    return m.group(1)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def sign_in(port: int, password: str = PASSWORD) -> tuple[str, str]:
    """Sign in over plain HTTP: (session cookie, CSRF token)."""
    status, headers, html = request(port, "GET", "/login")
    assert status == 200
    cookie = session_cookie(headers)
    status, headers, _ = request(port, "POST", "/login", cookie=cookie, form={"csrf": csrf_of(html), "password": password})
    assert status == 303, status
    cookie = session_cookie(headers)
    status, _, html = request(port, "GET", "/outbox", cookie=cookie)
    assert status == 200
    return cookie, csrf_of(html)


def chromium(profile: Path, javascript: bool = True):
    """Debian's chromium through chromium-driver (no browser download, no network)."""
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def browser_sign_in(driver, base: str, password: str = PASSWORD) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/login")
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    wait_until(lambda: driver.current_url.rstrip("/") == base, f"the dashboard after signing in ({driver.current_url})")


def wait_until(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
