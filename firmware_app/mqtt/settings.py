"""Where the box publishes: the broker from ``[mqtt] url`` and the topic tree.

    >>> b = broker({"url": "mqtts://box:s3cret@broker.lan", "username": "", "password": "", "ca_file": ""})
    >>> b.host, b.port, b.tls, b.username, b.password
    ('broker.lan', 8883, True, 'box', 's3cret')
    >>> t = Topics("ivrbox", "kitchen")
    >>> t.status, t.line(1, "state"), t.call(2, "ended")
    ('ivrbox/kitchen/status', 'ivrbox/kitchen/line/1/state', 'ivrbox/kitchen/line/2/call/ended')
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SCHEMES = {"mqtt": 1883, "mqtts": 8883}
# Home Assistant's node_id and object_id: [a-zA-Z0-9_-]+
NODE_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class Broker:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None
    ca_file: str = ""

    def __str__(self) -> str:  # never shows the password
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def url_problem(value: str) -> str | None:
    """Why ``[mqtt] url`` is unusable, or None. An empty url turns MQTT off.

    >>> url_problem("http://broker")
    'must be an mqtt:// or mqtts:// URL, e.g. mqtt://user:password@broker.lan:1883'
    >>> url_problem("mqtt://broker:99999")
    'the port must be a number from 1 to 65535'
    """
    if value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in SCHEMES:
        return "must be an mqtt:// or mqtts:// URL, e.g. mqtt://user:password@broker.lan:1883"
    if not parts.hostname:
        return "names no broker host"
    try:
        port = parts.port
    except ValueError:
        return "the port must be a number from 1 to 65535"
    if port is not None and not 0 < port < 65536:
        return "the port must be a number from 1 to 65535"
    if parts.path not in ("", "/") or parts.query:
        return "takes no path or query; set topics with topic_prefix"
    return None


def topic_problem(value: str) -> str | None:
    """Why a topic prefix is unusable, or None.

    >>> topic_problem("ivrbox/#")
    "must not contain the wildcards '+' or '#'"
    """
    if not value:
        return "must not be empty"
    if "+" in value or "#" in value:
        return "must not contain the wildcards '+' or '#'"
    if value.startswith("/") or value.endswith("/") or "//" in value:
        return "must not start or end with '/' or have empty levels"
    return None


def box_id_problem(value: str) -> str | None:
    if value and not NODE_ID.fullmatch(value):
        return "may hold only letters, digits, '_' and '-' (it is part of every topic and Home Assistant id)"
    return None


def broker(section: dict) -> Broker:
    parts = urlsplit(section["url"])
    tls = parts.scheme == "mqtts"
    username = section["username"] or (unquote(parts.username) if parts.username else None)
    password = section["password"] or (unquote(parts.password) if parts.password else None)
    return Broker(parts.hostname, parts.port or SCHEMES[parts.scheme], tls, username, password, section["ca_file"])


def box_id(section: dict) -> str:
    """``[mqtt] box_id``, else the hostname made safe for topics and Home Assistant ids."""
    return section["box_id"] or re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "ivrbox"


class Topics:
    """The box's topic tree under ``PREFIX/BOX``."""

    def __init__(self, prefix: str, box: str):
        self.base = f"{prefix}/{box}"
        self.status = f"{self.base}/status"
        self.command = f"{self.base}/command"
        self.command_result = f"{self.base}/command/result"
        self.server = f"{self.base}/server"
        self.outbox = f"{self.base}/outbox/pending"
        self.voicemail = f"{self.base}/voicemail/new"
        self.last_caller = f"{self.base}/last_caller"
        self.calls_today = f"{self.base}/calls_today"
        self.dropped = f"{self.base}/dropped"

    def line(self, n: int, what: str) -> str:
        return f"{self.base}/line/{n}/{what}"

    def call(self, n: int, what: str) -> str:
        return f"{self.base}/line/{n}/call/{what}"
