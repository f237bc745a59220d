"""`ivrbox lint`: the bundled flows are clean, and each check reports what it should."""

import json
import subprocess
from pathlib import Path

from simulate import IVRBOX

ROOT = Path(__file__).resolve().parents[1]


def lint(*targets, config=None, fmt="text", cwd=None):
    cmd = [IVRBOX, "lint", *map(str, targets), "--format", fmt] + (["--config", config] if config else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def lines_of(proc):
    return proc.stdout.splitlines()


def test_the_bundled_flows_are_clean():
    proc = lint("flows/", cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "8 documents checked: 0 errors, 0 warnings" in proc.stderr


def write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body)
    return path


def test_schema_errors_name_file_line_verb_attribute_and_value(tmp_path):
    doc = write(tmp_path, "a.xml", '<Response>\n<Say loop="x" pitch="9">hi</Say>\n<Dance/>\n'
                                   '<Pause length="inf"/>\n<Say>' + "a" * 4097 + '</Say>\n</Response>')
    proc = lint(doc, cwd=tmp_path)
    assert proc.returncode == 1
    assert lines_of(proc) == [
        "a.xml:2: error: <Say loop='x'> is not an integer; using 1",
        "a.xml:2: error: <Say> attribute 'pitch' is not supported; ignored",
        "a.xml:3: error: <Dance> is not supported in <Response>; skipped",
        "a.xml:4: error: <Pause length='inf'> is not a finite number; using 1.0",
        "a.xml:5: error: <Say> text is 4097 characters, over Twilio's 4096",
    ]


def test_a_document_that_does_not_parse_is_an_error_on_its_line(tmp_path):
    doc = write(tmp_path, "broken.xml", "<Response>\n<Say>\n</Response>")
    proc = lint(doc, cwd=tmp_path)
    assert proc.returncode == 1
    assert lines_of(proc)[0].startswith("broken.xml:3: error: 12100: document parse failure: mismatched tag")


def test_gather_checks_loop_finish_key_and_speech_language(tmp_path, config_file):
    doc = write(tmp_path, "g.xml", '<Response>\n<Gather numDigits="3" finishOnKey="1" input="dtmf speech" '
                                   'language="fr-FR"/>\n</Response>')
    proc = lint(doc, cwd=tmp_path)
    assert proc.returncode == 0  # warnings only
    assert lines_of(proc) == [
        "g.xml:2: warning: <Gather finishOnKey='1'> is also a digit the caller may enter (numDigits=3); "
        "pressing it submits instead of counting",
        "g.xml:2: warning: <Gather input='dtmf speech'> listens for speech in 'fr-FR', which has no configured "
        "speech model: the box will not hear speech there",
        "g.xml:2: warning: <Gather> has no action: the caller's input is posted back to this same document, "
        "which usually plays the same prompt again (a loop)",
    ]
    configured = tmp_path / "c.toml"
    configured.write_text('[speech.models]\n"fr-FR" = "/models/fr"\n')
    assert not any("speech model" in line for line in lines_of(lint(doc, config=str(configured), cwd=tmp_path)))


def test_verbs_after_hangup_redirect_or_reject_can_never_run(tmp_path):
    write(tmp_path, "next.xml", "<Response/>")
    doc = write(tmp_path, "u.xml", "<Response>\n<Redirect>next.xml</Redirect>\n<Say>lost</Say>\n<Hangup/>\n"
                                   "</Response>")
    proc = lint(doc, cwd=tmp_path)
    assert lines_of(proc) == [
        "u.xml:3: warning: <Say> can never run: it comes after <Redirect> on line 2",
        "u.xml:4: warning: <Hangup> can never run: it comes after <Redirect> on line 2",
    ]


def test_links_are_followed_and_those_that_do_not_resolve_are_errors(tmp_path):
    write(tmp_path, "menu.xml", '<Response>\n<Play>sounds/missing.wav</Play>\n<Play>ok.wav</Play>\n</Response>')
    write(tmp_path, "ok.wav", "RIFF")
    doc = write(tmp_path, "start.xml", '<Response>\n<Gather numDigits="1" action="menu"/>\n'
                                       '<Redirect>nowhere</Redirect>\n</Response>')
    proc = lint(doc, fmt="json", cwd=tmp_path)
    assert proc.returncode == 1
    found = json.loads(proc.stdout)
    assert {(f["file"], f["line"], f["level"]) for f in found} == {("menu.xml", 2, "error"), ("start.xml", 3, "error")}
    menu = next(f for f in found if f["file"] == "menu.xml")
    assert menu["message"].startswith(f"<Play> links to {(tmp_path / 'sounds/missing.wav').as_uri()}, which does not")


def test_an_http_flow_is_followed_like_cache_warm(server):
    server.routes["/start"] = '<Response><Gather numDigits="1" action="/menu"><Say>Hi</Say></Gather></Response>'
    server.routes["/menu"] = lambda rec: ('<Response><Redirect>/gone</Redirect></Response>'
                                          if rec.params.get("Digits") == "2" else (404, {}, "no"))
    proc = lint(server.url("/start"))
    assert proc.returncode == 1
    assert lines_of(proc) == [f"{server.url('/menu')}:1: error: <Redirect> links to {server.url('/gone')}, "
                              "which does not resolve: HTTP 404 from the server"]
    assert {r.params.get("Digits") for r in server.requests if r.path == "/menu"} == set("0123456789*#")


def test_an_unknown_file_is_a_usage_error(tmp_path):
    proc = lint(tmp_path / "nope.xml")
    assert proc.returncode == 2 and "no such file" in proc.stderr
