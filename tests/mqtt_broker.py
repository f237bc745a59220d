"""A real Mosquitto on a free loopback port, and a real subscriber to watch it.

    with Mosquitto(tmp_path) as broker, Subscriber(broker.port, "ivrbox/#") as seen:
        ...
        seen.wait_for(lambda msgs: any(m.topic == "ivrbox/box/status" for m in msgs))
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """The broker, started by the test with its own config; ``persistence`` keeps
    sessions and queued messages across stop() and start()."""

    def __init__(self, folder: Path, persistence: bool = False):
        self.folder = Path(folder) / f"mosquitto-{id(self)}"
        self.folder.mkdir(parents=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.conf = self.folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence {'true' if persistence else 'false'}\npersistence_location {self.folder}/\n"
            "user root\nlog_dest stderr\nlog_type error\nlog_type warning\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> "Mosquitto":
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stderr=subprocess.PIPE)
        end = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                assert self.proc.poll() is None, f"mosquitto exited: {self.proc.stderr.read().decode()}"
                assert time.monotonic() < end, "mosquitto did not start listening"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Message:
    topic: str
    payload: str
    retain: bool


class Subscriber:
    """An aiomqtt client on its own thread, keeping every message it gets. With
    ``session`` it is a persistent QoS 1 subscriber that reconnects after a
    broker restart and gets what was queued for it meanwhile."""

    def __init__(self, port: int, topic: str = "#", session: str | None = None):
        self.port, self.topic, self.session = port, topic, session
        self.messages: list[Message] = []
        self.subscribed = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except asyncio.CancelledError:
            pass

    async def _run(self) -> None:
        import aiomqtt

        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier=self.session,
                                          clean_session=False if self.session else None) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        self.messages.append(Message(str(message.topic), bytes(message.payload).decode(),
                                                     bool(message.retain)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def of(self, topic: str) -> list[str]:
        return [m.payload for m in list(self.messages) if m.topic == topic]

    def wait_for(self, predicate, timeout: float = 20.0):
        end = time.monotonic() + timeout
        while True:
            result = predicate(list(self.messages))
            if result:
                return result
            assert time.monotonic() < end, f"timed out; got {[(m.topic, m.payload) for m in self.messages]}"
            time.sleep(0.02)

    def __enter__(self) -> "Subscriber":
        self._thread.start()
        assert self.subscribed.wait(10), "the test subscriber could not subscribe"
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)
