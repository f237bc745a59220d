import gc
import os

import pytest
from hypothesis import HealthCheck, settings

from bench.fault_server import FaultServer
from bench.twiml_server import TwimlServer

# The property tests' budget: fixed and derandomized, so CI runs the same examples every time
# (HYPOTHESIS_PROFILE=deep searches further, locally).
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("deep", settings.get_profile("ci"), max_examples=5000, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch):
    """Each test gets its own cache and outbox, so no queued input replays into another test's server."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    for name in ("CACHE_DIRECTORY", "STATE_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def garbage_collected():
    """Each test's garbage is freed within that test. A speech model left in a reference
    cycle (by a call or a daemon run in the test process) takes 0.4 s to free, with the
    GIL held: a collection landing in a later test's real-time call stalls its card."""
    yield
    gc.collect()


@pytest.fixture
def server():
    with TwimlServer({}) as s:
        yield s


@pytest.fixture
def live():
    """A TwiML server the test can stop and start again on the same port."""
    with FaultServer({}) as s:
        yield s


@pytest.fixture
def config_file(tmp_path):
    """Write a config TOML from keyword sections: config_file(server={"auth_token": "x"})."""
    def write(**sections) -> str:
        lines = []
        for section, values in sections.items():
            lines.append(f"[{section}]")
            for key, value in values.items():
                lines.append(f"{key} = {value!r}".replace("'", '"') if isinstance(value, str) else f"{key} = {value}")
        path = tmp_path / "config.toml"
        path.write_text("\n".join(lines) + "\n")
        return str(path)
    return write
