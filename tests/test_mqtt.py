"""MQTT against a real Mosquitto the tests start on loopback: Home Assistant
discovery, retained states, call events from the real daemon loop, commands."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from drivers.sim import SimLine
from firmware_app.listen.tones import dtmf_audio
from firmware_app.commands.run import serve
from firmware_app.config import ConfigError, load
from mqtt_broker import Mosquitto, Subscriber
from simulate import of
from bench.twiml_server import TwimlServer

BASE = "ivrbox/testbox"
MENU = {
    "/start": '<Response><Gather numDigits="1" action="/next" timeout="3"><Say>Press a key</Say></Gather></Response>',
    "/next": "<Response><Say>Thanks</Say><Hangup/></Response>",
}

# Home Assistant's documented required keys, per component, for single-component
# discovery (home-assistant.io: sensor.mqtt, binary_sensor.mqtt, device_trigger.mqtt,
# and "device ... Only works when unique_id is set. At least one of identifiers or
# connections must be present").
REQUIRED = {
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "device_automation": {"automation_type", "topic", "type", "subtype", "device"},
}


def box_config(url: str, broker: Mosquitto | None, **mqtt) -> dict:
    config = load(None)
    config["server"]["url"] = url
    config["server"]["connect_timeout"] = 20.0
    if broker is not None:
        config["mqtt"].update(url=broker.url, box_id="testbox", **mqtt)
    return config


class Daemon:
    """serve() on its own thread and event loop, as `ivrbox run` runs it; stop() cancels it."""

    def __init__(self, config: dict, calls: int = 0, line=None):
        self.config, self.calls, self.line = config, calls, line
        self.events: list[dict] = []
        self.result: dict = {}
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        try:
            self.result["calls"] = await serve(self.config, self.calls, line=self.line, sinks=[self.events.append])
        except asyncio.CancelledError:
            self.result["cancelled"] = True

    def start(self) -> "Daemon":
        self.thread.start()
        return self

    def join(self, timeout: float = 30) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the daemon did not finish"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.join()


@pytest.fixture(scope="module")
def one_call(tmp_path_factory):
    """One simulated call through the daemon loop, watched by a subscriber from before the box starts."""
    folder = tmp_path_factory.mktemp("mqtt")
    with Mosquitto(folder) as broker, TwimlServer(dict(MENU)) as server, Subscriber(broker.port) as seen:
        config = box_config(server.url("/start"), broker)
        config["cache"]["dir"] = str(folder / "cache")
        config["outbox"]["path"] = str(folder / "outbox.sqlite")
        line = SimLine(script="wait:prompt dtmf:5", caller="+15551234", tones=dtmf_audio)
        daemon = Daemon(config, calls=1, line=line).start()
        daemon.join()
        seen.wait_for(lambda msgs: [m for m in msgs if m.topic == f"{BASE}/status" and m.payload == "offline"])
        with Subscriber(broker.port) as late:  # what a client that connects afterwards gets: the retained states
            expected = {m.topic for m in seen.messages if "/call/" not in m.topic}  # everything the box retains
            late.wait_for(lambda msgs: {m.topic for m in msgs} >= expected)
            retained = {m.topic: m.payload for m in late.messages}
        yield seen.messages, daemon.events, retained


def test_discovery_payloads_carry_home_assistants_required_keys(one_call):
    _, _, retained = one_call
    configs = {t: json.loads(p) for t, p in retained.items() if t.startswith("homeassistant/")}
    components = {}
    for topic, cfg in configs.items():
        prefix, component, node, object_id, last = topic.split("/")
        assert (prefix, node, last) == ("homeassistant", "ivrbox_testbox", "config")
        components.setdefault(component, []).append(object_id)
        missing = REQUIRED[component] - cfg.keys()
        assert not missing, f"{topic} lacks {missing}"
        assert cfg["device"]["identifiers"] == ["ivrbox_testbox"]  # one device per box
        if component == "device_automation":
            assert cfg["automation_type"] == "trigger" and "platform" not in cfg
        else:
            assert cfg["unique_id"].startswith("ivrbox_testbox_")
            assert cfg["availability_topic"] == f"{BASE}/status"
            assert cfg["state_topic"] in retained, f"{cfg['state_topic']} has no retained state"
    assert sorted(components["sensor"]) == sorted(["line1_state", "line1_error", "last_caller", "calls_today",
                                                   "new_voicemails", "outbox_pending", "mqtt_dropped"])
    assert sorted(components["binary_sensor"]) == ["line1_off_hook", "line1_ringing", "server"]
    assert components["device_automation"] == ["line1_incoming_call"]
    unique_ids = [c["unique_id"] for c in configs.values() if "unique_id" in c]
    assert len(unique_ids) == len(set(unique_ids))
    device = next(iter(configs.values()))["device"]
    assert {"identifiers", "name", "model", "sw_version"} <= device.keys()
    trigger = configs["homeassistant/device_automation/ivrbox_testbox/line1_incoming_call/config"]
    assert trigger["topic"] == f"{BASE}/line/1/call/started"


def test_retained_states_after_a_call(one_call):
    messages, _, retained = one_call
    assert retained[f"{BASE}/status"] == "offline"  # said on a clean shutdown
    assert retained[f"{BASE}/line/1/state"] == "idle"
    assert retained[f"{BASE}/line/1/ringing"] == "OFF" and retained[f"{BASE}/line/1/off_hook"] == "OFF"
    assert retained[f"{BASE}/last_caller"] == "+15551234"
    assert retained[f"{BASE}/calls_today"] == "1"
    assert retained[f"{BASE}/voicemail/new"] == "0"
    assert retained[f"{BASE}/outbox/pending"] == "0"
    assert retained[f"{BASE}/server"] == "up"
    assert retained[f"{BASE}/dropped"] == "0"
    states = [m.payload for m in messages if m.topic == f"{BASE}/line/1/state"]
    # Retained states keep only their newest value while waiting: a fast simulated call may skip one.
    assert "in_call" in states and states[-1] == "idle"
    order = ["idle", "ringing", "in_call"]
    assert [order.index(s) for s in states[:-1]] == sorted(order.index(s) for s in states[:-1])
    assert [m.payload for m in messages if m.topic == f"{BASE}/line/1/off_hook"][-2:] == ["ON", "OFF"]
    assert [m.payload for m in messages if m.topic == f"{BASE}/status"] == ["online", "offline"]


def test_call_events_of_a_simulated_call(one_call):
    messages, events, _ = one_call
    calls = [(m.topic.rsplit("/", 1)[1], json.loads(m.payload)) for m in messages if "/call/" in m.topic]
    assert [what for what, _ in calls] == ["started", "gather", "ended"]
    assert not any(m.retain for m in messages if "/call/" in m.topic)
    (_, started), (_, gather), (_, ended) = calls
    sid = of(events, "request")[0]["params"]["CallSid"]
    assert {started["call"], gather["call"], ended["call"]} == {sid}
    assert started["caller"] == "+15551234" and started["line"] == 1
    box_gather = of(events, "gather")[0]
    assert gather["digits"] == "5" == box_gather["digits"] and gather["t"] == box_gather["t"]
    assert ended["outcome"] == "completed" and ended["by"] == "box"
    assert ended["duration"] == of(events, "hangup")[0]["t"] > 0


def test_commands_flush_the_outbox_and_reload_the_config(tmp_path):
    from firmware_app.web.client import Request
    from firmware_app.web.outbox import Outbox

    config_path = tmp_path / "box.toml"
    with Mosquitto(tmp_path) as broker, TwimlServer({"/late": "<Response/>"}) as server, \
            Subscriber(broker.port, f"{BASE}/#") as seen:
        toml = (f'[server]\nurl = "{server.url("/start")}"\n[line]\nurl = "modem:///dev/ivrbox-no-such-modem"\n'
                f'[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n'
                f'[mqtt]\nurl = "{broker.url}"\nbox_id = "testbox"\n')
        config_path.write_text(toml)
        box = Outbox(tmp_path / "outbox.sqlite")
        box.put(Request("POST", server.url("/late"), {"Digits": "7", "CallSid": "CA1"}))
        box.close()
        config = load(config_path)
        daemon = Daemon(config).start()
        try:
            seen.wait_for(lambda msgs: "1" in seen.of(f"{BASE}/outbox/pending"))
            seen.wait_for(lambda msgs: "reopening" in seen.of(f"{BASE}/line/1/state"))
            seen.wait_for(lambda msgs: "ivrbox-no-such-modem" in seen.of(f"{BASE}/line/1/error")[-1])

            def command(name: str) -> dict:
                before = len(seen.of(f"{BASE}/command/result"))
                asyncio.run(_publish(broker.port, f"{BASE}/command", name))
                seen.wait_for(lambda msgs: len(seen.of(f"{BASE}/command/result")) > before)
                return json.loads(seen.of(f"{BASE}/command/result")[-1])

            assert command("flush_outbox") == {"command": "flush_outbox", "ok": True,
                                               "detail": "delivered 1, 0 pending"}
            assert [r.params["Digits"] for r in server.requests if r.path == "/late"] == ["7"]
            seen.wait_for(lambda msgs: seen.of(f"{BASE}/outbox/pending")[-1:] == ["0"])

            config_path.write_text(toml + "[call]\nfrom = 12\n")
            broken = command("reload_config")
            assert not broken["ok"] and "[call] from: expected str" in broken["detail"]
            assert config["call"]["from"] == "+15550100"  # a broken file changes nothing
            config_path.write_text(toml.replace("/start", "/elsewhere").replace("no-such-modem", "other-modem")
                                   + '[call]\nfrom = "+15559876"\n')
            reloaded = command("reload_config")
            assert reloaded["ok"] and "[line] take effect after a restart" in reloaded["detail"]
            assert config["call"]["from"] == "+15559876"
            assert config["server"]["url"] == server.url("/elsewhere")
            assert config["line"]["url"] == "modem:///dev/ivrbox-no-such-modem"

            unknown = command("format_disk")
            assert not unknown["ok"] and "flush_outbox" in unknown["detail"]
        finally:
            daemon.stop()


async def _publish(port: int, topic: str, payload: str, retain: bool = False) -> None:
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.publish(topic, payload, qos=1, retain=retain)


def test_a_full_buffer_drops_the_oldest_events_and_counts_them(tmp_path):
    """With the broker down, 25 events into a buffer of 10: the newest 10 arrive
    once the broker is up, and the 15 dropped are published as a counter."""
    from firmware_app.mqtt import build

    broker = Mosquitto(tmp_path)

    async def box() -> None:
        config = box_config("flows:/demo/index.xml", broker, buffer=10)
        reporter = build(config, lines=1)
        reporter.start()
        for n in range(25):
            reporter.publisher.event(f"{BASE}/test", str(n))
        await asyncio.sleep(0.5)  # the broker is down: nothing leaves
        assert reporter.publisher.published == 0 and reporter.publisher.dropped == 15
        broker.start()
        with Subscriber(broker.port, f"{BASE}/#") as seen:
            await asyncio.to_thread(seen.wait_for, lambda msgs: len(seen.of(f"{BASE}/test")) == 10, 30)
            await reporter.close()
        assert seen.of(f"{BASE}/test") == [str(n) for n in range(15, 25)]
        assert seen.of(f"{BASE}/dropped")[-1] == "15"

    try:
        asyncio.run(box())
    finally:
        broker.stop()


def test_a_recording_is_published_as_a_call_event(tmp_path):
    from firmware_app.mqtt import build

    async def box(broker) -> None:
        reporter = build(box_config("flows:/demo/index.xml", broker), lines=2)
        reporter.start()
        with reporter.call(2, "CA42", "+15550000") as sink:
            sink({"t": 1.0, "event": "record", "url": "file:///var/lib/ivrbox/CA42.wav", "duration": 4.5})
            sink({"t": 6.0, "event": "hangup", "by": "caller"})
        await reporter.close()

    with Mosquitto(tmp_path) as broker, Subscriber(broker.port, f"{BASE}/line/2/call/#") as seen:
        asyncio.run(box(broker))
        seen.wait_for(lambda msgs: len(msgs) == 3)
    recording = json.loads(seen.of(f"{BASE}/line/2/call/recording")[0])
    assert recording == {"call": "CA42", "line": 2, "t": 1.0, "url": "file:///var/lib/ivrbox/CA42.wav",
                         "duration": 4.5}
    ended = json.loads(seen.of(f"{BASE}/line/2/call/ended")[0])
    assert (ended["outcome"], ended["by"], ended["duration"]) == ("completed", "caller", 6.0)


@pytest.mark.parametrize("key, value, problem", [
    ("url", "http://broker", "must be an mqtt:// or mqtts:// URL"),
    ("url", "mqtt://", "names no broker host"),
    ("topic_prefix", "ivrbox/#", "wildcards"),
    ("box_id", "my box", "may hold only letters"),
    ("buffer", 0, "must be from 10"),
])
def test_bad_mqtt_settings_are_refused_by_name(config_file, key, value, problem):
    with pytest.raises(ConfigError, match=rf"\[mqtt\] {key}: .*{problem}"):
        load(config_file(mqtt={key: value}))


def test_credentials_come_from_the_url_or_their_own_keys(config_file):
    from firmware_app.mqtt.settings import broker

    b = broker(load(config_file(mqtt={"url": "mqtts://box:p%40ss@broker.lan"}))["mqtt"])
    assert (b.host, b.port, b.tls, b.username, b.password) == ("broker.lan", 8883, True, "box", "p@ss")
    b = broker(load(config_file(mqtt={"url": "mqtt://broker.lan:1884", "username": "u", "password": "pw"}))["mqtt"])
    assert (b.port, b.tls, b.username, b.password) == (1884, False, "u", "pw")
    assert "pw" not in str(b)


def test_the_server_going_down_is_published(tmp_path, live):
    live.routes.update(MENU)
    live.stop()
    with Mosquitto(tmp_path) as broker, Subscriber(broker.port, f"{BASE}/server") as seen:
        daemon = Daemon(box_config(live.url("/start"), broker), calls=1, line=SimLine(script="wait:1 hangup"))
        daemon.start().join()
        seen.wait_for(lambda msgs: seen.of(f"{BASE}/server")[-1:] == ["down"])
    assert seen.of(f"{BASE}/server")[0] == "up"
    assert of(daemon.events, "offline")  # the call went on from the fallbacks


def test_a_modem_call_is_ringing_then_in_call_then_idle(tmp_path):
    """A real driver (pyserial on the fake modem's pty): the line is ringing
    while the box waits for its first TwiML, in a call once it answers."""
    from fake_modem import FakeModem

    answer = threading.Event()

    def start(request):
        answer.wait(15)
        return "<Response><Say>Hello</Say><Hangup/></Response>"

    with Mosquitto(tmp_path) as broker, TwimlServer({"/start": start}) as server, FakeModem("usr5637") as modem, \
            Subscriber(broker.port, f"{BASE}/line/1/#") as seen:
        config = box_config(server.url("/start"), broker)
        config["line"]["url"] = f"modem://{modem.path}?rings=2&at_timeout=0.5&keepalive=0"
        daemon = Daemon(config, calls=1).start()
        seen.wait_for(lambda msgs: seen.of(f"{BASE}/line/1/state")[-1:] == ["idle"])
        modem.ring(2, cid=["DATE = 1124", "TIME = 2005", "NMBR = 5551234", "NAME = ALICE"])
        seen.wait_for(lambda msgs: seen.of(f"{BASE}/line/1/ringing")[-1:] == ["ON"])
        assert seen.of(f"{BASE}/line/1/state")[-1] == "ringing"
        answer.set()
        daemon.join()
        seen.wait_for(lambda msgs: seen.of(f"{BASE}/line/1/call/ended"))
    assert seen.of(f"{BASE}/line/1/state")[-3:] == ["ringing", "in_call", "idle"]
    assert seen.of(f"{BASE}/line/1/off_hook")[-2:] == ["ON", "OFF"]
    started = json.loads(seen.of(f"{BASE}/line/1/call/started")[0])
    assert (started["caller"], started["name"]) == ("5551234", "ALICE")
    assert json.loads(seen.of(f"{BASE}/line/1/call/ended")[0])["outcome"] == "completed"
