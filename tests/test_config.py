"""The config file: defaults, overrides, and errors that name the file, the key and the problem."""

import subprocess

import pytest

from firmware_app.config import ConfigError, load
from simulate import IVRBOX


def test_the_bundled_default_runs_the_demo_flow_on_the_console():
    cfg = load(None)
    assert cfg["server"]["url"] == "flows:/demo/index.xml"
    assert cfg["line"]["url"] == "console:"


def test_values_override_defaults(config_file):
    cfg = load(config_file(server={"url": "https://example.com/ivr", "method": "GET"}, call={"from": "+1"}))
    assert cfg["server"]["url"] == "https://example.com/ivr" and cfg["server"]["method"] == "GET"
    assert cfg["call"]["from"] == "+1" and cfg["call"]["to"] == "+15550199"


@pytest.mark.parametrize("text, expected", [
    ('[server]\nurll = "http://x"\n', "[server] urll: unknown key"),
    ('[server]\nmethod = "PUT"\n', "[server] method: must be GET or POST"),
    ('[server]\nurl = "ftp://x"\n', "[server] url: must be an http://, https:// or flows:/ URL"),
    ('[server]\naccount_sid = "AC12"\n', "[server] account_sid: must be AC followed by 32 hex digits"),
    ('[server]\ntimeout = "soon"\n', "[server] timeout: expected float"),
    ('[server]\ntimeout = -1\n', "[server] timeout: must be greater than 0"),
    ('[serverz]\nurl = "http://x"\n', "[serverz]: unknown section"),
    ('[line]\nurl = "telepathy:"\n', "[line] url: unknown line URL"),
    ('[speech]\nvad_aggressiveness = 4\n', "[speech] vad_aggressiveness: must be 0 (keeps most speech) to 3"),
    ('[server\nurl = "x"\n', "not valid TOML"),
    ('server = 3\n', "server: expected a [server] table"),
])
def test_broken_values_name_the_file_key_and_problem(tmp_path, text, expected):
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load(path)
    assert str(path) in str(e.value) and expected in str(e.value)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "nope.toml")


def test_speech_models_map_languages_to_directories(config_file, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[speech.models]\n"ko-KR" = "/models/ko"\n')
    assert load(path)["speech.models"] == {"ko-KR": "/models/ko"}
    path.write_text('[speech.models]\n"ko-KR" = 5\n')
    with pytest.raises(ConfigError, match=r"\[speech.models\] ko-KR: expected str"):
        load(path)
    path.write_text('[speech.models]\nenglish = "/models/en"\n')
    with pytest.raises(ConfigError, match=r"\[speech.models\] english: not a BCP-47 language tag"):
        load(path)


def test_the_commands_report_a_broken_config_and_exit_2(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[call]\nfrom = 5\n')
    for args in (["simulate", "flows:/demo/index.xml"], ["run"]):
        proc = subprocess.run([IVRBOX, *args, "--config", str(path)], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2
        assert f"{path}: [call] from: expected str" in proc.stderr
