"""The box's configuration: one TOML file, checked key by key.

    >>> cfg = load(None)                  # the bundled default
    >>> cfg["server"]["method"]
    'POST'

Every key the box understands is declared in SCHEMA with its type and a
check; an unknown key or a bad value raises ConfigError naming the file,
the key and what is wrong.
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_PATH = Path(__file__).with_name("default.toml")
SYSTEM_PATH = Path("/etc/ivrbox/config.toml")


class ConfigError(Exception):
    pass


def _url(value: str) -> str | None:
    if value == "":
        return None
    try:
        parts = urlsplit(value)
        parts.port  # raises on a bad port
        host = parts.hostname or ""
        if host and not host.startswith("[") and ":" not in host:
            host.encode("idna")  # raises on an empty or over-63-character label
    except (ValueError, UnicodeError) as e:
        return f"is not a valid URL ({e})"
    if parts.scheme not in ("http", "https", "flows"):
        return "must be an http://, https:// or flows:/ URL"
    if parts.scheme in ("http", "https") and not parts.hostname:
        return "has no host"
    if not value.isascii() or any(c.isspace() for c in value):
        return "must be ASCII with no spaces (percent-encode the rest, e.g. %C3%A9 for é)"
    return None


def _method(value: str) -> str | None:
    return None if value in ("GET", "POST") else "must be GET or POST"


def _account_sid(value: str) -> str | None:
    ok = len(value) == 34 and value.startswith("AC") and all(c in "0123456789abcdefABCDEF" for c in value[2:])
    return None if ok else "must be AC followed by 32 hex digits"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _at_least(low: float):
    return lambda value: None if value >= low else f"must be at least {low:g}"


def finite_number(text: str) -> float:
    """An argparse type: a finite float (no nan, inf or 1e400).

    >>> finite_number("2.5")
    2.5
    >>> finite_number("nan")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: 'nan' is not a finite number
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "must be 0 (any free port) to 65535"


def _line_urls(value: str | list) -> str | None:
    from drivers import LineError, parse_url

    urls = [value] if isinstance(value, str) else value
    if not urls or not all(isinstance(u, str) for u in urls):
        return "must be a line URL or a list of line URLs"
    try:
        for url in urls:
            parse_url(url)
    except LineError as e:
        return str(e)
    return None


def _speech_engine(name: str) -> str | None:
    from .listen.engine import ENGINES

    return None if name in ENGINES else f"must be one of {', '.join(sorted(ENGINES))}"


def _status_events(value: str) -> str | None:
    from .status import events_problem

    return events_problem(value)


def _mqtt(check_name: str):
    def check(value: str) -> str | None:
        from .mqtt import settings

        return getattr(settings, check_name)(value)
    return check


def _listen(value: str) -> str | None:
    from .console.auth import parse_listen

    if value == "":
        return None
    try:
        parse_listen(value)
    except ValueError as e:
        return str(e)
    return None


def _password_hash(value: str) -> str | None:
    from .console.auth import hash_problem

    return hash_problem(value)


# section -> key -> (type, default, check or None)
SCHEMA: dict[str, dict[str, tuple[type, object, object]]] = {
    "server": {
        "url": (str, "flows:/demo/index.xml", _url),
        "method": (str, "POST", _method),
        "account_sid": (str, "AC00000000000000000000000000000000", _account_sid),
        "auth_token": (str, "", None),
        "fallback_url": (str, "", _url),
        "timeout": (float, 15.0, _positive),
        "connect_timeout": (float, 2.0, _positive),
        "status_callback": (str, "", _url),
        "status_callback_method": (str, "POST", _method),
        "status_callback_events": (str, "completed", lambda v: _status_events(v)),
    },
    "cache": {
        "dir": (str, "", None),
        "max_mb": (float, 64.0, _positive),
    },
    "outbox": {
        "path": (str, "", None),
        "max_attempts": (int, 1000, lambda v: None if v >= 1 else "must be at least 1"),
        "max_age_days": (float, 7.0, _positive),
        "retry_max_seconds": (float, 600.0, _positive),
    },
    "offline": {
        "flow": (str, "", _url),
        "probe_interval": (float, 1.0, _positive),
    },
    "call": {
        "from": (str, "+15550100", None),
        "to": (str, "+15550199", None),
    },
    "line": {
        "url": ((str, list), "console:", _line_urls),
    },
    # Ceilings on what a server can make the box decode, synthesise and keep.
    "media": {
        "max_play_seconds": (float, 600.0, _positive),      # decoded audio per <Play>, at 8 kHz
        "min_sample_rate": (int, 4000, _positive),          # declared rates outside these are refused
        "max_sample_rate": (int, 384000, _positive),
        "max_say_characters": (int, 4096, _at_least(1)),    # Twilio's limit; the rest is dropped
        "max_play_digits": (int, 1000, _at_least(1)),       # characters of <Play digits>
        "tts_cache_mb": (float, 16.0, _at_least(0)),        # synthesised speech kept in memory
        "audio_cache_mb": (float, 32.0, _at_least(0)),      # decoded <Play> audio kept in memory
    },
    "recordings": {
        "dir": (str, "", None),
        "max_mb": (float, 512.0, _positive),
        "max_days": (float, 90.0, _positive),
        "listen": (str, "127.0.0.1", lambda v: None if v.strip() else "must be an address to listen on"),
        "port": (int, 0, _port),
        "public_url": (str, "", lambda v: None if v == "" or urlsplit(v).scheme in ("http", "https")
                       else "must be an http:// or https:// URL"),
        "http_auth": (bool, False, None),
        "transcribe_language": (str, "", lambda v: None if v == "" or LANGUAGE_TAG.fullmatch(v)
                                else "must be a BCP-47 language tag such as en-US"),
    },
    "speech": {
        "engine": (str, "vosk", _speech_engine),
        "vad_aggressiveness": (int, 2, lambda v: None if 0 <= v <= 3 else "must be 0 (keeps most speech) to 3"),
        "vad_hangover_ms": (int, 300, lambda v: None if v >= 20 else "must be at least one 20 ms frame"),
        "warm_up": (bool, True, None),
    },
    "mqtt": {
        "url": (str, "", _mqtt("url_problem")),
        "username": (str, "", None),
        "password": (str, "", None),
        "ca_file": (str, "", None),
        "topic_prefix": (str, "ivrbox", _mqtt("topic_problem")),
        "box_id": (str, "", _mqtt("box_id_problem")),
        "discovery_prefix": (str, "homeassistant", lambda v: _mqtt("topic_problem")(v) if v else None),
        "buffer": (int, 1000, lambda v: None if 10 <= v <= 1_000_000 else "must be from 10 to 1000000 events"),
    },
    "console": {
        "listen": (str, "127.0.0.1:8080", _listen),          # HOST:PORT; "" turns the web console off
        "password_hash": (str, "", _password_hash),         # set with `ivrbox console passwd`
        "keep_days": (float, 30.0, _positive),               # call history kept this long
        "db": (str, "", None),                               # call history; default: the state directory
    },
}

# Sections whose keys are free-form names mapping to strings, such as
# [speech.models] "en-US" = "/path".
FREE_SECTIONS: dict[str, type] = {"speech.models": str}


def defaults() -> dict:
    return {s: {k: copy.copy(d) for k, (_, d, _) in keys.items()} for s, keys in SCHEMA.items()}


def _check_section(name: str, values: dict, where: str, out: dict) -> None:
    keys = SCHEMA[name]
    for key, value in values.items():
        if key not in keys:
            raise ConfigError(f"{where}: [{name}] {key}: unknown key (known: {', '.join(keys)})")
        typ, _, check = keys[key]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or isinstance(value, bool) != (typ is bool):
            expected = " or ".join(t.__name__ for t in typ) if isinstance(typ, tuple) else typ.__name__
            raise ConfigError(f"{where}: [{name}] {key}: expected {expected}, got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: [{name}] {key}: must be a finite number (got {value!r})")
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{where}: [{name}] {key}: {problem} (got {value!r})")
        out[name][key] = value


def _merge(data: dict, where: str, out: dict) -> None:
    for name, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: {name}: expected a [{name}] table, got {values!r}")
        if name in SCHEMA:
            sub = {k: v for k, v in values.items() if not (isinstance(v, dict) and f"{name}.{k}" in FREE_SECTIONS)}
            _check_section(name, sub, where, out)
            for k in values.keys() - sub.keys():
                _merge_free(f"{name}.{k}", values[k], where, out)
        elif name in FREE_SECTIONS:
            _merge_free(name, values, where, out)
        else:
            known = ", ".join(f"[{s}]" for s in [*SCHEMA, *FREE_SECTIONS])
            raise ConfigError(f"{where}: [{name}]: unknown section (known: {known})")


LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def _merge_free(name: str, values: dict, where: str, out: dict) -> None:
    typ = FREE_SECTIONS[name]
    for key, value in values.items():
        if not LANGUAGE_TAG.fullmatch(key):
            raise ConfigError(f"{where}: [{name}] {key}: not a BCP-47 language tag such as en-US")
        if not isinstance(value, typ):
            raise ConfigError(f"{where}: [{name}] {key}: expected {typ.__name__}, got {value!r}")
    out.setdefault(name, {}).update(values)


def load(path: str | Path | None) -> dict:
    """Read PATH, else /etc/ivrbox/config.toml if it exists, else the bundled default."""
    if path is None:
        path = SYSTEM_PATH if SYSTEM_PATH.exists() else DEFAULT_PATH
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    out = defaults()
    _merge(data, str(path), out)
    out["_path"] = str(path)
    return out
