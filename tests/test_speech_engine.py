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
