"""Only finite numbers, anywhere: the config file, the command line and the
simulated caller's script; and the events the box prints are strict JSON."""

import json
import subprocess

import pytest

from firmware_app.config import SCHEMA, ConfigError, load
from simulate import IVRBOX

FLOAT_KEYS = [(section, key) for section, keys in SCHEMA.items() for key, (typ, _, _) in keys.items() if typ is float]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "+inf", "1e400"])
@pytest.mark.parametrize("section,key", FLOAT_KEYS)
def test_every_float_key_refuses_values_that_are_not_finite(tmp_path, section, key, value):
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as e:
        load(path)
    assert str(path) in str(e.value) and f"[{section}] {key}: must be a finite number" in str(e.value)


@pytest.mark.parametrize("url", ["http://[::1/x", "http://" + "a" * 64 + ".example.com/", "http://host:99999/",
                                 "http://example.com/café", "http:///nohost", "http://exa mple.com/"])
@pytest.mark.parametrize("key", ["url", "fallback_url"])
def test_malformed_urls_in_the_config_are_config_errors(tmp_path, url, key):
    path = tmp_path / "config.toml"
    path.write_text(f'[server]\n{key} = "{url}"\n')
    with pytest.raises(ConfigError, match=rf"\[server\] {key}: "):
        load(path)


@pytest.mark.parametrize("section,key,value", [
    ("media", "max_play_seconds", "0"), ("media", "max_say_characters", "0"), ("media", "max_play_digits", "0"),
    ("media", "tts_cache_mb", "-1"), ("media", "audio_cache_mb", "-1"), ("media", "min_sample_rate", "0"),
])
def test_media_limits_are_checked(tmp_path, section, key, value):
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=rf"\[{section}\] {key}: must be"):
        load(path)


def test_the_config_error_reaches_the_user_without_a_traceback(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[server]\ntimeout = inf\n")
    proc = subprocess.run([IVRBOX, "simulate", "flows:/demo/index.xml", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "timeout: must be a finite number" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [
    ["simulate", "flows:/demo/index.xml", "--max-seconds", "nan"],
    ["simulate", "flows:/demo/index.xml", "--max-seconds", "inf"],
    ["simulate", "flows:/demo/index.xml", "--max-seconds", "1e400"],
    ["devices", "--timeout", "nan"],
    ["cache", "prune", "--max-mb", "inf"],
])
def test_command_line_numbers_must_be_finite(args):
    proc = subprocess.run([IVRBOX, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "is not a finite number" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("step", ["wait:inf", "wait:nan", "wait:-inf", "wait:1e400", "wait:-1"])
def test_caller_script_waits_must_be_finite(step):
    proc = subprocess.run([IVRBOX, "simulate", "flows:/demo/index.xml", "--caller", step],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"{step!r} needs finite seconds" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_events_are_strict_json_even_if_a_number_is_not_finite():
    import io

    from firmware_app.events import json_printer

    out = io.StringIO()
    json_printer(out)({"t": 1.0, "event": "pause", "seconds": float("nan"), "nested": [float("inf")]})
    record = json.loads(out.getvalue(), parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert record == {"t": 1.0, "event": "pause", "seconds": "nan", "nested": ["inf"]}


def test_no_value_that_is_not_finite_is_ever_printed_by_simulate(server):
    """NaN, Infinity and -Infinity are not JSON: whatever the document holds, the printed events never carry them."""
    server.routes["/h"] = ('<Response><Pause length="NaN"/><Pause length="-inf"/><Say loop="1e400">x</Say>'
                           '<Gather timeout="inf" speechTimeout="NaN" numDigits="inf"><Pause length="Infinity"/>'
                           '</Gather><Play loop="nan" digits="1"/></Response>')
    proc = subprocess.run([IVRBOX, "simulate", server.url("/h")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr

    def refuse(name):
        raise AssertionError(f"{name} printed")

    events = [json.loads(line, parse_constant=refuse) for line in proc.stdout.splitlines()]
    assert sum(e["event"] == "warning" and "is not" in e["message"] for e in events) == 8
    assert [e["seconds"] for e in events if e["event"] == "pause"] == [1.0, 1.0, 1.0]
