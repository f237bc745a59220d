"""What the box loads before it needs it: start-up time and idle memory.

A call that never answers, and a box waiting for rings, must not import the
call's numeric machinery (numpy, the detectors), the speech engines, the
audio decoders or the console's templates. Their cost is measured in
``python -m bench cpu``; this guards which modules load, which does not
depend on the machine's speed.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.pulse import Caller, fake_card, unique
from bench.twiml_server import TwimlServer
from firmware_app.numbers import ensure_geodata, geodata_path, seen_path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "vosk", "miniaudio", "soxr", "webrtcvad", "jinja2", "lameenc", "pkg_resources")


def imported(stderr: str) -> set[str]:
    """Top-level packages named in ``-X importtime`` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def simulate(twiml: str) -> tuple[str, set[str]]:
    """``ivrbox simulate`` of TWIML: its events, and the packages it imported."""
    with TwimlServer({"/start": f"<Response>{twiml}</Response>"}) as server:
        run = subprocess.run([sys.executable, "-X", "importtime", "-m", "firmware_app", "simulate",
                              server.url("/start")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, imported(run.stderr)


# importlib.import_module, as the command line loads its subcommand, does not show in -X importtime
LOADED_AT_EXIT = ("import atexit, sys; atexit.register(lambda: print(*sorted(sys.modules), file=sys.stderr)); "
                  "from firmware_app.cli import main; sys.exit(main())")


def test_simulating_an_unanswered_call_loads_no_heavy_module():
    events, names = simulate("<Hangup/>")
    assert '"event": "hangup"' in events
    assert "aiohttp" in names  # the check sees what loads
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def loaded(twiml: str, *args: str, env: dict | None = None) -> tuple[str, set[str], list]:
    """``ivrbox simulate`` of TWIML: its events, every module loaded by its
    end, and the requests the server saw."""
    with TwimlServer({"/start": f"<Response>{twiml}</Response>"}) as server:
        run = subprocess.run([sys.executable, "-c", LOADED_AT_EXIT, "simulate", server.url("/start"), *args],
                             cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout, set(run.stderr.split()), server.requests


def test_simulate_loads_no_other_command_and_no_web_server_until_it_records():
    events, names, _ = loaded("<Hangup/>")
    assert '"event": "hangup"' in events
    commands = {name for name in names if name.startswith("firmware_app.commands.")}
    assert commands == {"firmware_app.commands.simulate"}, commands
    assert "aiohttp.client" in names and "aiohttp.web" not in names


def test_a_call_loads_the_verbs_its_documents_use_and_an_unknown_tag_loads_them_all():
    def verbs(names):
        return {n.rsplit(".", 1)[1] for n in names if n.startswith("firmware_app.twiml.verbs.")}

    _, names, _ = loaded("<Hangup/>")
    assert verbs(names) == {"base", "registry", "hangup", "say"}  # say: the interpreter's apology
    events, names, _ = loaded("<Dance/><Hangup/>")
    assert {"dial", "unsupported", "gather", "conversation_relay"} <= verbs(names)
    assert "<Dance> is not supported in <Response>; skipped" in events


def test_a_number_seen_before_is_placed_without_phonenumbers_and_a_busy_table_costs_only_the_memo(tmp_path):
    ensure_geodata()
    shutil.copy(geodata_path(), tmp_path / geodata_path().name)
    env = dict(os.environ, CACHE_DIRECTORY=str(tmp_path))
    seen = tmp_path / seen_path().name
    new_york = {"FromCountry": "US", "FromState": "NY", "FromCity": "NEW YORK", "ToCountry": "US"}
    berlin = {"FromCountry": "DE", "FromState": "", "FromCity": "Berlin", "ToCountry": "US"}
    runs = [loaded("<Hangup/>", "--from", "+12125551234", env=env) for _ in range(2)]
    with sqlite3.connect(seen) as other:                # another box is writing to the file
        other.execute("BEGIN IMMEDIATE")
        other.execute("DELETE FROM seen WHERE number = 'none'")
        runs += [loaded("<Hangup/>", "--from", "+4930123456", env=env) for _ in range(2)]
    for (_, _, requests), place in zip(runs, (new_york, new_york, berlin, berlin)):
        assert {k: requests[0].params[k] for k in place} == place
    assert ["phonenumbers" in names for _, names, _ in runs] == [True, False, True, True]
    junk = "+1" + "2" * 40                              # no number is this long: not kept
    assert ["phonenumbers" in loaded("<Hangup/>", "--from", junk, env=env)[1] for _ in range(2)] == [True, True]
    with sqlite3.connect(seen) as db:
        kept = db.execute("SELECT number, home FROM seen ORDER BY number").fetchall()
    assert kept == [("+12125551234", "US"), ("+15550199", "")]  # the caller, read in the line's country; the line


def test_an_answer_from_an_unreadable_table_is_not_kept_and_a_damaged_memo_starts_again(tmp_path):
    ensure_geodata()
    geodata = tmp_path / geodata_path().name
    shutil.copy(geodata_path(), geodata)
    env = dict(os.environ, CACHE_DIRECTORY=str(tmp_path))
    with sqlite3.connect(geodata) as db:
        db.execute("ALTER TABLE place RENAME TO gone")      # the city cannot be looked up
    _, _, requests = loaded("<Hangup/>", "--from", "+12125551234", env=env)
    assert requests[0].params["FromCity"] == ""
    with sqlite3.connect(geodata) as db:
        db.execute("ALTER TABLE gone RENAME TO place")
    seen = tmp_path / seen_path().name
    with sqlite3.connect(seen) as db:
        assert db.execute("SELECT number FROM seen").fetchall() == [("+15550199",)]
    seen.write_bytes(b"SQLite format 3\0" + bytes(range(256)) * 16)  # damaged, as after a power cut
    for _ in range(3):                                  # thrown away; a new file; the answer from it
        events, names, requests = loaded("<Hangup/>", "--from", "+12125551234", env=env)
        assert requests[0].params["FromCity"] == "NEW YORK" and "Traceback" not in events
    assert "phonenumbers" not in names


def test_a_spoken_prompt_loads_numpy_when_it_is_needed():
    events, names = simulate("<Say>Hello</Say>")
    assert '"event": "say"' in events
    assert "numpy" in names


def test_a_box_waiting_for_rings_loads_no_heavy_module_and_keeps_its_card_closed():
    with fake_card(unique("ivrtest_idle")) as card, tempfile.TemporaryDirectory() as tmp:
        caller = Caller(card)
        config = Path(tmp) / "config.toml"
        config.write_text(f'[server]\nurl = "http://127.0.0.1:9/start"\n'
                          f'[line]\nurl = "sound://{card.name}?hook=GPIO17&ring=GPIO27"\n'
                          f'[console]\nlisten = "127.0.0.1:0"\n')
        env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock")
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "firmware_app", "run",
                                 "--config", str(config)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(4.0)
            assert proc.poll() is None
            recording = subprocess.run(["pactl", "list", "source-outputs"], capture_output=True, text=True).stdout
        finally:
            proc.terminate()
            stderr = proc.communicate(timeout=10)[1]
            caller.stop()
    assert f'application.process.id = "{proc.pid}"' not in recording
    names = imported(stderr)
    assert "gpiozero" in names and "aiohttp" in names
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def test_a_modem_waiting_for_rings_loads_no_heavy_module():
    """Its echo canceller (numpy) is made with the first answer, as the sound line's is."""
    from fake_modem import FakeModem

    with FakeModem() as modem, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(f'[server]\nurl = "http://127.0.0.1:9/start"\n[line]\nurl = "modem://{modem.path}"\n'
                          f'[console]\nlisten = "127.0.0.1:0"\n')
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "firmware_app", "run",
                                 "--config", str(config)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            end = time.monotonic() + 10
            while "AT+FCLASS=0" not in modem.commands and time.monotonic() < end:
                time.sleep(0.1)
            time.sleep(1.0)
            assert proc.poll() is None
        finally:
            proc.terminate()
            stderr = proc.communicate(timeout=10)[1]
    assert "AT+FCLASS=0" in modem.commands, modem.commands  # the line opened and waits for rings
    names = imported(stderr)
    assert "serial" in names and "aiohttp" in names
    assert not names & set(HEAVY), sorted(names & set(HEAVY))
