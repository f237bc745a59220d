"""The speech-engine seam: [speech] engine picks the engine, each engine owns its
model table and download, and engine and session meet only in listen/engine.py."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_app.config import load
from firmware_app.listen import speech_models
from firmware_app.listen.engine import ENGINES, ModelError, engine_named
from simulate import IVRBOX

LISTEN = Path(__file__).resolve().parents[1] / "firmware_app" / "listen"


class EchoEngine:
    """An engine whose models always load; enough to show the config picks it."""

    name = "echo"

    def load(self, path, language):
        return {"path": path, "language": language}

    def models(self):
        return {}

    def download(self, language, directory):
        raise ModelError("echo models are not downloadable")


def test_the_config_picks_the_engine(tmp_path, monkeypatch):
    monkeypatch.setitem(ENGINES, "echo", f"{__name__}:EchoEngine")
    path = tmp_path / "c.toml"
    path.write_text('[speech]\nengine = "echo"\n[speech.models]\n"ko-KR" = "/models/ko"\n')
    models = speech_models(load(str(path)), wait=True)
    assert isinstance(models.engine, EchoEngine)
    assert models.get("ko-KR") == {"path": "/models/ko", "language": "ko-KR"}


def test_the_default_engine_is_vosk():
    assert load(None)["speech"]["engine"] == "vosk"
    assert engine_named("vosk").models()["en-US"]["archive"] == "vosk-model-small-en-us-0.15"


def test_an_unknown_engine_stops_the_box_with_a_clear_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[speech]\nengine = "whisper"\n')
    proc = subprocess.run([IVRBOX, "run", "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "[speech] engine: must be one of vosk" in proc.stderr and "Traceback" not in proc.stderr


def test_downloading_a_language_the_engine_has_no_model_for_says_which_it_has(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "firmware_app.listen.models", "xx-YY", str(tmp_path / "m")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no Vosk model known for 'xx-YY'; known: en-US" in proc.stderr
    assert not (tmp_path / "m").exists()


def imports(module: str) -> set[str]:
    tree = ast.parse((LISTEN / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.add(node.module)
    return found


@pytest.mark.parametrize("module", ["session", "speech_vosk", "models", "hints"])
def test_engines_and_the_session_meet_only_in_engine_py(module):
    assert "engine" in imports(module)
    assert not imports(module) & {"session", "speech_vosk"} - {module}
    assert imports("engine") == set()


class SlowBrokenEngine:
    """An engine whose model loads until ``fail`` is set, then fails."""

    name = "slow"

    def __init__(self):
        import threading

        self.fail = threading.Event()

    def load(self, path, language):
        self.fail.wait(30)
        raise ModelError(f"{path} is corrupt")


def test_speech_kept_for_a_model_that_then_fails_is_no_speech_with_a_warning():
    import asyncio

    from firmware_app.clock import Clock
    from firmware_app.listen.listener import open_listener
    from firmware_app.listen.models import SpeechModels
    from firmware_app.twiml.channel import Speech

    engine = SlowBrokenEngine()
    models = SpeechModels({"ko-KR": "/models/ko"}, engine)
    models.start()

    async def gather():
        warnings = []
        listener = open_listener(Speech("ko-KR", [], "default", False), models,
                                 {"vad_aggressiveness": 2, "vad_hangover_ms": 300}, Clock(),
                                 lambda event, **f: warnings.append(f["message"]))
        for _ in range(50):
            listener.feed(bytes(320))
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, engine.fail.set)
        result = await listener.speech_result()
        return result, warnings, models.loading("ko-KR")

    result, warnings, loading = asyncio.run(gather())
    assert result == ("", 0.0)
    assert not loading
    assert "the speech model for 'ko-KR' is still loading: the caller's speech is kept" in warnings[0]
    assert warnings[1] == ("speech recognition failed: the speech model for 'ko-KR' failed to load: "
                           "/models/ko is corrupt; treating it as no speech")
