"""The web console against the real daemon (`ivrbox run` on a simulated line), in headless Chromium."""

from __future__ import annotations

import json
import re
import threading

import pytest

from console_box import (PASSWORD, Daemon, hashed, box_toml, browser_sign_in, chromium, csrf_of, free_port, request,
                         screenshot, session_cookie, sign_in, wait_until)
HASH = hashed()
TEST_CALLER = "+15550123"
CRAWLER = "CA" + "0" * 32          # the CallSid of cache warm and lint requests


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    browser = chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.quit()


class Gates:
    """A TwiML app whose first call waits at /start and /next until the test opens each gate;
    later calls of the daemon's looping simulated line wait at /start until the test ends."""

    def __init__(self, server):
        self.server, self.first, self.second, self.done = server, threading.Event(), threading.Event(), threading.Event()
        self.calls = 0
        server.routes["/start"] = self.start
        server.routes["/next"] = self.next

    def start(self, rec):
        if rec.params.get("CallSid") == CRAWLER:
            return '<Response><Say>Welcome live</Say><Gather numDigits="1" action="/next" timeout="5"/></Response>'
        if rec.params.get("From") == TEST_CALLER:
            return '<Response><Say>Test call here</Say><Gather numDigits="1" action="/tested"/></Response>'
        self.calls += 1
        (self.first if self.calls == 1 else self.done).wait(60)
        return '<Response><Say>Welcome live</Say><Gather numDigits="1" action="/next" timeout="5"/></Response>'

    def next(self, rec):
        if rec.params.get("CallSid") != CRAWLER:
            self.second.wait(60)
        return "<Response><Say>Second part live</Say><Hangup/><Say>Never heard</Say></Response>"

    def release(self):
        for gate in (self.first, self.second, self.done):
            gate.set()


@pytest.fixture
def box(tmp_path, server):
    gates = Gates(server)
    server.routes["/tested"] = lambda rec: f"<Response><Say>You pressed {rec.params.get('Digits')}</Say></Response>"
    server.routes["/late"] = "<Response/>"
    port = free_port()
    daemon = Daemon(tmp_path, box_toml(tmp_path, server.url("/start"), port, password_hash=HASH))
    daemon.wait_for(r"console on http://")
    daemon.port, daemon.base, daemon.gates = port, f"http://127.0.0.1:{port}", gates
    yield daemon
    gates.release()
    daemon.stop()
    assert "Traceback" not in "".join(daemon.log), "".join(daemon.log)


def test_sign_in_and_out(box, driver):
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(box.base + "/calls")
    assert driver.current_url == box.base + "/login"
    driver.find_element(By.ID, "password").send_keys("wrong password")
    driver.find_element(By.ID, "sign-in").click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".error"), "the refused sign-in's page")
    assert "wrong password" in driver.find_element(By.CSS_SELECTOR, ".error").text
    browser_sign_in(driver, box.base)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Dashboard"
    cookie = driver.get_cookie("ivrbox_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    screenshot(driver, "signed-in")
    driver.find_element(By.ID, "logout").click()
    wait_until(lambda: driver.current_url == box.base + "/login", "the login page after signing out")
    driver.get(box.base + "/")
    assert driver.current_url == box.base + "/login", "signed out, the dashboard must not show"


def test_login_attempts_are_limited(box):
    status, headers, html = request(box.port, "GET", "/login")
    cookie, csrf = session_cookie(headers), csrf_of(html)
    statuses = [request(box.port, "POST", "/login", cookie=cookie, form={"csrf": csrf, "password": f"guess {n}"})[0]
                for n in range(6)]
    assert statuses == [401] * 5 + [429]
    status, _, _ = request(box.port, "POST", "/login", cookie=cookie, form={"csrf": csrf, "password": PASSWORD})
    assert status == 429, "even the right password waits once the address is limited"


def test_a_live_calls_events_appear_on_the_dashboard(box, driver):
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    browser_sign_in(driver, box.base)
    wait_until(lambda: box.gates.calls >= 1, "the call's first request")
    driver.get(box.base + "/")
    calls = driver.find_element(By.ID, "calls")
    assert "Welcome live" not in calls.text
    assert driver.find_element(By.ID, "line-1-state").text == "ringing"
    driver.execute_script("window.notReloaded = true")
    box.gates.first.set()
    wait_until(lambda: "Welcome live" in calls.text, "the say event on the dashboard, live")
    wait_until(lambda: "digits=1" in calls.text, "the gather event on the dashboard, live")
    assert driver.find_element(By.ID, "line-1-state").text == "in call"
    screenshot(driver, "dashboard-live-call")
    box.gates.second.set()
    wait_until(lambda: "Second part live" in calls.text, "the last prompt")
    wait_until(lambda: "completed" in calls.text, "the call's end")
    assert driver.execute_script("return window.notReloaded") is True, "the page was reloaded, not live"
    sid = re.search(r"/calls/(CA[0-9a-f]{32})", driver.page_source).group(1)
    driver.get(box.base + "/calls?number=0100")
    assert sid[:12] in driver.page_source or sid in driver.page_source
    driver.get(box.base + f"/calls/{sid}")
    timeline = driver.find_element(By.ID, "timeline").text
    assert "Welcome live" in timeline and "digits=1" in timeline and "Second part live" in timeline
    assert "completed" in driver.page_source
    screenshot(driver, "call-timeline")


def test_retry_and_drop_in_the_outbox(box, driver, server):
    from selenium.webdriver.common.by import By

    from firmware_app.web.client import Request
    from firmware_app.web.outbox import Outbox

    outbox = Outbox(box.folder / "outbox.sqlite", max_attempts=1)
    items = []
    for digits in ("42", "77"):
        item = outbox.put(Request("POST", server.url("/late"), {"CallSid": "CA" + "1" * 32, "Digits": digits},
                                  kind="callback", input={"Digits": digits}))
        outbox.mark_failed(item, "HTTP 503")
        items.append(item)
    assert len(outbox.dead()) == 2
    driver.delete_all_cookies()
    browser_sign_in(driver, box.base)
    driver.get(box.base + "/outbox")
    dead = driver.find_element(By.ID, "dead").text
    assert "Digits=42" in dead and "Digits=77" in dead
    screenshot(driver, "outbox")
    driver.find_element(By.CSS_SELECTOR, f"#item-{items[0].id} form[action$='/retry'] button").click()
    wait_until(lambda: any(r.path == "/late" and r.params.get("Digits") == "42" for r in server.requests),
               "the retried request at the server")
    wait_until(lambda: outbox.get(items[0].id).delivered_at is not None, "the retried item marked delivered")
    driver.get(box.base + "/outbox")
    driver.find_element(By.CSS_SELECTOR, f"#item-{items[1].id} form[action$='/drop'] button").click()
    wait_until(lambda: "dropped" in driver.page_source, "the drop's answer")
    assert outbox.get(items[1].id) is None
    assert "Digits=77" not in driver.find_element(By.ID, "dead").text
    assert not any(r.params.get("Digits") == "77" for r in server.requests), "a dropped item was sent"


def test_a_test_call_from_the_browser(box, driver, server):
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    browser_sign_in(driver, box.base)
    driver.get(box.base + "/test-call")
    script = driver.find_element(By.ID, "script")
    script.clear()
    script.send_keys("wait:listen dtmf:7")
    driver.find_element(By.NAME, "caller").clear()
    driver.find_element(By.NAME, "caller").send_keys(TEST_CALLER)
    driver.find_element(By.ID, "start-test").click()
    wait_until(lambda: "/test-call/" in driver.current_url, "the test call's page")
    events = driver.find_element(By.ID, "test-events")
    wait_until(lambda: driver.find_element(By.ID, "test-state").text.startswith("ended"), "the test call's end")
    wait_until(lambda: "You pressed 7" in events.text, "the test call's last prompt")
    assert "digits=7" in events.text and "Test call here" in events.text
    screenshot(driver, "test-call")
    assert any(r.path == "/tested" and r.params.get("Digits") == "7" for r in server.requests)
    status, _, _ = request(box.port, "POST", "/api/test-call", cookie=sign_in(box.port)[0],
                           form={"script": "wav:/etc/passwd"}, headers={"X-CSRF-Token": "x"})
    assert status == 403


def test_csrf_refused(box, server):
    from firmware_app.web.client import Request
    from firmware_app.web.outbox import Outbox

    outbox = Outbox(box.folder / "outbox.sqlite", max_attempts=1)
    item = outbox.put(Request("POST", server.url("/late"), {"Digits": "5"}, kind="callback", input={"Digits": "5"}))
    cookie, csrf = sign_in(box.port)
    other_cookie, other_csrf = sign_in(box.port)
    path = f"/outbox/{item.id}/drop"
    for form, headers in (({}, {}), ({"csrf": "forged"}, {}), ({"csrf": other_csrf}, {}),
                          ({}, {"X-CSRF-Token": other_csrf})):
        status, _, body = request(box.port, "POST", path, cookie=cookie, form=form, headers=headers)
        assert status == 403, (form, headers, status)
        assert "CSRF" in body
        status, _, _ = request(box.port, "POST", "/api" + path, cookie=cookie, form=form, headers=headers)
        assert status == 403
    assert outbox.get(item.id) is not None, "a refused action still ran"
    status, _, _ = request(box.port, "POST", "/api" + path, cookie=cookie, headers={"X-CSRF-Token": csrf})
    assert status == 200 and outbox.get(item.id) is None


def all_routes():
    from firmware_app.console.views import routes

    fill = {"sid": "CA" + "0" * 32, "id": "0" * 16}
    for route in routes:
        path = re.sub(r"\{(\w+)\}", lambda m: fill[m.group(1)], route.path)
        if path.startswith("/voicemail/") and path.endswith(".wav"):
            path = "/voicemail/RE" + "0" * 32 + ".wav"
        yield route.method, path


def test_every_route_refuses_strangers_beyond_loopback(tmp_path, server):
    port = free_port()
    server.routes["/start"] = "<Response><Pause length=\"60\"/></Response>"
    daemon = Daemon(tmp_path, box_toml(tmp_path, server.url("/start"), port, host="0.0.0.0", password_hash=HASH))
    try:
        daemon.wait_for(r"console on http://")
        routes = list(all_routes())
        assert len(routes) > 25
        for cookie in ("", "not-a-session"):
            for method, path in routes:
                if path in ("/login",):
                    continue
                status, headers, body = request(port, method, path, cookie=cookie)
                if method == "GET" and not path.startswith("/api/"):
                    assert (status, headers.get("location")) == (303, "/login"), (method, path, status)
                else:
                    assert status == 401, (method, path, status)
                assert "+15550100" not in body and "top-secret" not in body
        signed_in, _ = sign_in(port)
        status, _, body = request(port, "GET", "/api/config", cookie=signed_in)
        assert status == 200 and "top-secret-token" not in body and '"auth_token": "***"' in body
        assert HASH not in body
    finally:
        daemon.stop()


def test_beyond_loopback_without_a_password_the_box_will_not_start(tmp_path, server):
    daemon = Daemon(tmp_path, box_toml(tmp_path, server.url("/start"), free_port(), host="0.0.0.0"))
    assert daemon.proc.wait(30) == 2
    daemon.stop()
    said = "".join(daemon.log)
    assert "reachable from other machines: set a password first with `ivrbox console passwd`" in said
    assert "Traceback" not in said


def test_on_loopback_without_a_password_only_its_own_host_name_answers(tmp_path, server):
    server.routes["/start"] = "<Response><Pause length=\"60\"/></Response>"
    port = free_port()
    daemon = Daemon(tmp_path, box_toml(tmp_path, server.url("/start"), port))
    try:
        daemon.wait_for(r"console on http://")
        assert request(port, "GET", "/api/dashboard")[0] == 200
        status, _, body = request(port, "GET", "/api/dashboard", headers={"Host": "evil.example:80"})
        assert status == 421 and "+15550100" not in body
    finally:
        daemon.stop()


PAGES = ["/", "/calls", "/voicemail", "/outbox", "/cache", "/flows", "/test-call", "/config"]


def test_every_page_fits_a_phone_screen(box, driver):
    driver.delete_all_cookies()
    browser_sign_in(driver, box.base)
    driver.set_window_size(390, 844)
    try:
        for page in PAGES:
            driver.get(box.base + page)
            wide = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, f"{page} scrolls sideways by {wide} px on a phone"
            if page == "/":
                screenshot(driver, "phone-dashboard")
    finally:
        driver.set_window_size(1280, 1000)


def test_pages_read_with_javascript_off(box, tmp_path):
    from selenium.webdriver.common.by import By

    no_js = chromium(tmp_path / "profile", javascript=False)
    try:
        browser_sign_in(no_js, box.base)
        wait_until(lambda: box.gates.calls >= 1, "the call's first request")
        box.gates.first.set()
        wait_until(lambda: any(r.path == "/next" for r in box.gates.server.requests), "the gather's action")

        def shows_the_call():
            no_js.get(box.base + "/")
            return "Welcome live" in no_js.find_element(By.ID, "calls").text
        wait_until(shows_the_call, "the call in progress, rendered by the server")
        assert "digits=1" in no_js.find_element(By.ID, "calls").text
        assert no_js.find_element(By.CSS_SELECTOR, ".noscript-hint").is_displayed()
        screenshot(no_js, "dashboard-no-javascript")
        for page in PAGES[1:]:
            no_js.get(box.base + page)
            assert no_js.find_element(By.TAG_NAME, "h1").text, page
    finally:
        no_js.quit()


def test_cache_warm_and_prune_and_the_lint_page(box, server):
    cookie, csrf = sign_in(box.port)
    status, _, body = request(box.port, "POST", "/api/cache/warm", cookie=cookie, headers={"X-CSRF-Token": csrf},
                              form={"url": server.url("/start")})
    assert status == 200, body

    def warmed():
        return json.loads(request(box.port, "GET", "/api/cache", cookie=cookie)[2])
    found = wait_until(lambda: (lambda c: c if c["warming"][server.url("/start")]["state"] == "done" else None)(warmed()),
                       "the warm crawl")
    assert found["warming"][server.url("/start")]["documents"] >= 2
    urls = {e["url"] for e in found["entries"]}
    assert server.url("/start") in urls and server.url("/next") in urls
    assert all(e["age"] >= 0 and isinstance(e["fresh"], bool) for e in found["entries"])
    status, _, body = request(box.port, "POST", "/api/cache/prune", cookie=cookie, headers={"X-CSRF-Token": csrf},
                              form={"max_mb": "0"})
    assert status == 200 and json.loads(body)["entries"] >= 2
    assert warmed()["entries"] == []
    status, _, body = request(box.port, "POST", "/api/cache/prune", cookie=cookie, headers={"X-CSRF-Token": csrf},
                              form={"max_mb": "nan"})
    assert status == 400
    status, _, body = request(box.port, "GET", "/api/flows", cookie=cookie)
    groups = {g["title"]: g for g in json.loads(body)["groups"]}
    assert groups["bundled flows"]["documents"] >= 5
    assert groups["the configured server"]["documents"] >= 2
    assert [f["level"] for f in groups["the configured server"]["findings"]
            if "<Say> can never run" in f["message"] and f["file"] == server.url("/next")] == ["warning"]
    assert all("can never run" not in f["message"] for f in groups["bundled flows"]["findings"])


def test_the_config_page_hides_secrets_and_shows_a_broken_file(box):
    cookie, _ = sign_in(box.port)
    status, _, body = request(box.port, "GET", "/config", cookie=cookie)
    assert status == 200 and "top-secret-token" not in body and HASH not in body and "***" in body
    assert "The file on disk is valid" in body
    box.config.write_text(box.config.read_text().replace("connect_timeout = 30.0", "connect_timeout = -1.0"))
    status, _, body = request(box.port, "GET", "/api/config", cookie=cookie)
    problem = json.loads(body)["problem"]
    assert "[server] connect_timeout: must be greater than 0" in problem
    status, _, body = request(box.port, "GET", "/config", cookie=cookie)
    assert "connect_timeout: must be greater than 0" in body


def test_the_dashboards_counters_follow_the_outbox(box, driver, server):
    from selenium.webdriver.common.by import By

    from firmware_app.web.client import Request
    from firmware_app.web.outbox import Outbox

    driver.delete_all_cookies()
    browser_sign_in(driver, box.base)
    assert driver.find_element(By.ID, "outbox-dead").text == "0"
    driver.execute_script("window.notReloaded = true")
    outbox = Outbox(box.folder / "outbox.sqlite", max_attempts=1)
    item = outbox.put(Request("POST", server.url("/late"), {"Digits": "9"}, kind="callback", input={"Digits": "9"}))
    outbox.mark_failed(item, "HTTP 503")
    wait_until(lambda: driver.find_element(By.ID, "outbox-dead").text == "1", "the dead letter counted, live")
    assert driver.find_element(By.ID, "server-state").text.startswith("up since")
    assert driver.execute_script("return window.notReloaded") is True
