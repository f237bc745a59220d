"""<Record>'s schema: Twilio's defaults, and bad values warned about and replaced by them."""

import pytest

from firmware_app.twiml.parse import parse

URL = "http://example.com/voicemail"


def record(attrs: str = ""):
    doc = parse(f"<Response><Record {attrs}/><Say>after</Say></Response>", URL)
    return doc.verbs[0], [str(w) for w in doc.warnings]


def test_twilios_defaults():
    verb, warnings = record()
    assert warnings == []
    assert (verb.action, verb.method, verb.timeout, verb.finish_on_key, verb.max_length, verb.play_beep,
            verb.trim, verb.recording_status_callback, verb.recording_status_callback_method,
            verb.recording_status_callback_event, verb.transcribe, verb.transcribe_callback) == \
        (URL, "POST", 5.0, "1234567890*#", 3600, True, "trim-silence", "", "POST", ("completed",), False, "")
    assert [message for _, message in verb.lint(None)] == [
        "<Record> has no action: the recording is posted back to this same document, which records again (a loop)"]


def test_attributes_are_read_and_urls_resolved():
    verb, warnings = record('action="/done" method="GET" timeout="0" finishOnKey="#*" maxLength="0" playBeep="false" '
                            'trim="do-not-trim" recordingStatusCallback="status" recordingStatusCallbackMethod="GET" '
                            'recordingStatusCallbackEvent="in-progress absent completed" transcribe="true" '
                            'transcribeCallback="/t"')
    assert warnings == []
    assert (verb.action, verb.method, verb.timeout, verb.finish_on_key, verb.max_length, verb.play_beep, verb.trim,
            verb.recording_status_callback, verb.recording_status_callback_event, verb.transcribe_callback) == \
        ("http://example.com/done", "GET", 0.0, "#*", 0, False, "do-not-trim", "http://example.com/status",
         ("in-progress", "absent", "completed"), "http://example.com/t")
    assert list(verb.lint(None)) == []


@pytest.mark.parametrize("attr, field, default", [
    ('finishOnKey="#x"', "finish_on_key", "1234567890*#"),
    ('maxLength="-1"', "max_length", 3600),
    ('maxLength="99999999"', "max_length", 3600),
    ('timeout="NaN"', "timeout", 5.0),
    ('trim="yes"', "trim", "trim-silence"),
    ('playBeep="maybe"', "play_beep", True),
    ('recordingStatusCallbackEvent="done"', "recording_status_callback_event", ("completed",)),
    ('method="PUT"', "method", "POST"),
])
def test_bad_values_warn_and_use_the_default(attr, field, default):
    verb, warnings = record(attr)
    assert getattr(verb, field) == default
    assert len(warnings) == 1 and attr.split("=")[0] in warnings[0]
