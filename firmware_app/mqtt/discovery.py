"""Home Assistant MQTT discovery: the box as one device with its sensors.

Each entity is one retained config message on
``<discovery_prefix>/<component>/<node_id>/<object_id>/config``; all carry
the same ``device`` block, so Home Assistant groups them under one device
per box, and the box's availability topic, so they show unavailable when
the box's last will says ``offline``.

    >>> msgs = dict(messages(Topics("ivrbox", "hall"), "homeassistant", "hall", lines=1, version="0.1.0"))
    >>> cfg = json.loads(msgs["homeassistant/sensor/ivrbox_hall/line1_state/config"])
    >>> cfg["state_topic"], cfg["device"]["identifiers"]
    ('ivrbox/hall/line/1/state', ['ivrbox_hall'])
"""

from __future__ import annotations

import json

from .settings import Topics

LINE_STATES = ["idle", "ringing", "in_call", "reopening"]


def device(box: str, version: str) -> dict:
    return {"identifiers": [f"ivrbox_{box}"], "name": f"ivrbox {box}", "model": "ivrbox phone-line IVR",
            "manufacturer": "ivrbox", "sw_version": version}


def messages(topics: Topics, prefix: str, box: str, lines: int, version: str) -> list[tuple[str, str]]:
    """(topic, JSON payload) for every entity of a box with ``lines`` lines."""
    node = f"ivrbox_{box}"
    dev = device(box, version)
    common = {"availability_topic": topics.status, "payload_available": "online",
              "payload_not_available": "offline", "device": dev}
    out = []

    def entity(component: str, object_id: str, name: str, state_topic: str, **extra) -> None:
        config = {"name": name, "unique_id": f"{node}_{object_id}", "state_topic": state_topic, **common, **extra}
        out.append((f"{prefix}/{component}/{node}/{object_id}/config", json.dumps(config)))

    for n in range(1, lines + 1):
        entity("sensor", f"line{n}_state", f"Line {n} state", topics.line(n, "state"),
               device_class="enum", options=LINE_STATES, icon="mdi:phone-classic")
        entity("sensor", f"line{n}_error", f"Line {n} last error", topics.line(n, "error"),
               entity_category="diagnostic", icon="mdi:alert-circle-outline")
        entity("binary_sensor", f"line{n}_ringing", f"Line {n} ringing", topics.line(n, "ringing"),
               icon="mdi:phone-ring")
        entity("binary_sensor", f"line{n}_off_hook", f"Line {n} off hook", topics.line(n, "off_hook"),
               icon="mdi:phone-in-talk")
        trigger = {"automation_type": "trigger", "topic": topics.call(n, "started"), "type": "incoming_call",
                   "subtype": f"line_{n}", "device": dev}
        out.append((f"{prefix}/device_automation/{node}/line{n}_incoming_call/config", json.dumps(trigger)))
    entity("sensor", "last_caller", "Last caller", topics.last_caller, icon="mdi:phone-incoming")
    entity("sensor", "calls_today", "Calls today", topics.calls_today, state_class="total_increasing",
           icon="mdi:phone-log")
    entity("sensor", "new_voicemails", "New voicemails", topics.voicemail, state_class="measurement",
           icon="mdi:voicemail")
    entity("sensor", "outbox_pending", "Outbox pending", topics.outbox, state_class="measurement",
           entity_category="diagnostic", icon="mdi:tray-full")
    entity("sensor", "mqtt_dropped", "MQTT events dropped", topics.dropped, state_class="total_increasing",
           entity_category="diagnostic", icon="mdi:delete-alert")
    entity("binary_sensor", "server", "TwiML server", topics.server, device_class="connectivity",
           payload_on="up", payload_off="down", entity_category="diagnostic")
    return out
