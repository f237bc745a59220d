"""The one task that talks to the broker; everyone else only drops messages off.

``state()`` and ``event()`` return at once and never touch the network, so a
broker that is down or slow cannot hold up a call. A separate task
(``run()``) owns the connection: it connects with a retained last will
(``offline``), announces ``online``, sends every retained state, then drains
the events, reconnecting with growing pauses whenever the broker goes away.

Retained states keep only their newest value per topic, and all of them are
sent again on each connect (a restarted broker may have lost them). Events
wait in a bounded queue: when it is full the oldest is dropped and counted.
A message leaves the queue only once the broker has acknowledged it (QoS 1),
so a broker restart loses nothing that fits in the queue.

    >>> p = Publisher(Broker("127.0.0.1", 1883, False), Topics("ivrbox", "box"), buffer=2)
    >>> for n in range(3): p.event("ivrbox/box/test", str(n))
    >>> [payload for _, payload in p.events], p.dropped
    (['1', '2'], 1)
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import ssl
from collections import Counter, deque
from typing import Awaitable, Callable

from .settings import Broker, Topics

log = logging.getLogger("ivrbox.mqtt")

BATCH = 64              # events in flight at once
ACK_TIMEOUT = 10.0      # a broker slower than this to acknowledge counts as gone
CONNECT_TIMEOUT = 10.0
KEEPALIVE = 30          # the broker publishes the will this long after the box vanishes without a word
MAX_BACKOFF = 60.0


class Publisher:
    def __init__(self, broker: Broker, topics: Topics, *, buffer: int = 1000, client_id: str | None = None,
                 commands: dict[str, Callable[[], Awaitable[str]]] | None = None):
        self.broker = broker
        self.topics = topics
        self.client_id = client_id
        self.commands = commands or {}
        self.states: dict[str, str] = {}      # the newest value of every retained topic
        self.changes: deque[tuple[str, str]] = deque()  # retained changes in order, not yet sent
        self.pending: Counter[str] = Counter()          # of those, how many per topic
        self.dirty: dict[str, None] = {}      # retained topics to send again (on connect) from self.states
        self.events: deque[tuple[str, str]] = deque()
        self.size = buffer
        self.dropped = 0
        self.published = 0
        self.connected = False
        self._wake = asyncio.Event()
        self._closing = False
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()

    # The calls' side: never blocks, never raises

    def state(self, topic: str, payload: str) -> None:
        """Set a retained state. Every change is sent, in order; if changes pile up
        past the buffer while the broker is away, only the newest per topic is kept."""
        if self.states.get(topic) != payload:
            self.states[topic] = payload
            self.changes.append((topic, payload))
            self.pending[topic] += 1
            if len(self.changes) > self.size:
                newest = {t: p for t, p in self.changes}
                self.changes = deque(newest.items())
                self.pending = Counter(dict.fromkeys(newest, 1))
            self._wake.set()

    def event(self, topic: str, payload: str) -> None:
        self.events.append((topic, payload))
        self._trim()
        self._wake.set()

    def _trim(self) -> None:
        excess = len(self.events) - self.size
        if excess <= 0:
            return
        for _ in range(excess):
            self.events.popleft()
        if self.dropped == 0 or (self.dropped + excess) // 100 > self.dropped // 100:
            log.warning("MQTT buffer full (%d events): dropped the oldest, %d dropped so far",
                        self.size, self.dropped + excess)
        self.dropped += excess
        self.state(self.topics.dropped, str(self.dropped))

    # The connection's side

    async def run(self) -> None:
        """Connect, publish, reconnect with backoff; returns after close()."""
        backoff, failures = 1.0, 0
        while True:
            try:
                await self._session()
                backoff, failures = 1.0, 0
            except Exception as e:  # the broker's faults in any form end this connection, never the box
                failures += 1
                why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                if self.connected or failures == 1:
                    log.warning("MQTT broker %s unavailable (%s); retrying with backoff, %d events waiting",
                                self.broker, why, len(self.events))
                else:
                    log.debug("MQTT broker %s still unavailable: %s", self.broker, why)
            finally:
                self.connected = False
            if self._closing:
                return
            # close() cuts the pause short for one last try at sending what waits.
            stop = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({stop}, timeout=backoff * random.uniform(0.8, 1.2))
            stop.cancel()
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _client(self):
        import aiomqtt

        tls = None
        if self.broker.tls:
            tls = ssl.create_default_context(cafile=self.broker.ca_file or None)
        client = aiomqtt.Client(
            self.broker.host, self.broker.port, username=self.broker.username, password=self.broker.password,
            identifier=self.client_id, keepalive=KEEPALIVE, timeout=CONNECT_TIMEOUT, tls_context=tls,
            will=aiomqtt.Will(self.topics.status, "offline", qos=1, retain=True),
            max_queued_incoming_messages=100, max_inflight_messages=BATCH,
            # Without it Nagle holds each small packet for the broker's delayed ACK: 40 ms per batch.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            logger=logging.getLogger("ivrbox.mqtt.client"))
        client.pending_calls_threshold = 2 * BATCH  # a batch in flight is expected, not a warning
        return client

    async def _session(self) -> None:
        async with self._client() as client:
            self.connected = True
            log.info("MQTT connected to %s as %s", self.broker, self.topics.base)
            await client.publish(self.topics.status, "online", qos=1, retain=True, timeout=ACK_TIMEOUT)
            if self.commands:
                await client.subscribe(self.topics.command, qos=1, timeout=ACK_TIMEOUT)
            self.dirty = dict.fromkeys(t for t in self.states if not self.pending[t])
            send = asyncio.create_task(self._send(client))
            listen = asyncio.create_task(self._listen(client))
            try:
                done, _ = await asyncio.wait({send, listen}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (send, listen):
                    task.cancel()
                await asyncio.gather(send, listen, return_exceptions=True)
            for task in done:
                task.result()

    async def _send(self, client) -> None:
        while True:
            if self.dirty:
                batch = [t for t in list(self.dirty)[:BATCH] if not self.pending[t]]  # else a newer change waits
                for topic in list(self.dirty)[:BATCH]:
                    del self.dirty[topic]
                try:
                    await self._publish(client, [(t, self.states[t]) for t in batch], retain=True)
                except BaseException:
                    self.dirty.update(dict.fromkeys(batch))
                    raise
            elif self.changes:
                batch = [self.changes.popleft() for _ in range(min(BATCH, len(self.changes)))]
                try:
                    await self._publish(client, batch, retain=True)
                except BaseException:
                    self.changes.extendleft(reversed(batch))
                    raise
                for topic, _ in batch:
                    self.pending[topic] -= 1
                    if self.pending[topic] <= 0:  # <0 if the queue was compacted while these were in flight
                        del self.pending[topic]
            elif self.events:
                batch = [self.events.popleft() for _ in range(min(BATCH, len(self.events)))]
                try:
                    await self._publish(client, batch, retain=False)
                except BaseException:
                    self.events.extendleft(reversed(batch))  # sent again after reconnecting: none lost
                    self._trim()
                    raise
            elif self._closing:
                await client.publish(self.topics.status, "offline", qos=1, retain=True, timeout=ACK_TIMEOUT)
                return
            else:
                self._wake.clear()
                await self._wake.wait()

    async def _publish(self, client, batch: list[tuple[str, str]], retain: bool) -> None:
        await asyncio.gather(*(client.publish(t, p, qos=1, retain=retain, timeout=ACK_TIMEOUT) for t, p in batch))
        self.published += len(batch)

    async def _listen(self, client) -> None:
        async for message in client.messages:
            command = bytes(message.payload or b"").decode("utf-8", "replace").strip()
            if message.retain:
                log.warning("MQTT: ignored a retained command %r on %s (publish commands without retain)",
                            command, message.topic)
                continue
            task = asyncio.create_task(self._command(command))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _command(self, name: str) -> None:
        handler = self.commands.get(name)
        if handler is None:
            ok, detail = False, f"unknown command {name[:64]!r}; commands: {', '.join(self.commands)}"
        else:
            try:
                ok, detail = True, await handler()
            except Exception as e:  # a failed command is reported back, never raised into the box
                ok, detail = False, str(e) or type(e).__name__
        (log.info if ok else log.warning)("MQTT command %r: %s", name[:64], detail)
        self.event(self.topics.command_result, json.dumps({"command": name[:64], "ok": ok, "detail": detail}))

    async def close(self, runner: asyncio.Task | None, timeout: float = 2.0) -> None:
        """Send what waits (for up to ``timeout`` seconds), say ``offline`` and disconnect."""
        self._closing = True
        self._wake.set()
        self._stop.set()
        if runner is not None:
            await asyncio.wait({runner}, timeout=timeout)
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
