"""The TwiML parser on its own: attributes, defaults, limits."""

import pytest

from firmware_app.twiml.parse import MAX_DOCUMENT, TwimlError, parse
from firmware_app.twiml.verbs.gather import Gather
from firmware_app.twiml.verbs.pause import Pause
from firmware_app.twiml.verbs.play import Play
from firmware_app.twiml.verbs.say import Say

URL = "http://example.com/ivr/complex_gather.xml"


def test_gather_defaults_follow_the_seed_table():
    g = parse("<Response><Gather/></Response>", URL).verbs[0]
    assert (g.action, g.method, g.timeout, g.finish_on_key, g.num_digits) == (URL, "POST", 5.0, "#", None)
    assert (g.input, g.language, g.hints, g.profanity_filter) == (frozenset({"dtmf"}), "en-US", [], True)
    assert (g.speech_timeout, g.speech_model, g.action_on_empty_result) == (None, "default", False)
    assert g.partial_result_callback == "" and g.partial_result_callback_method == "POST"


def test_every_gather_attribute_is_read():
    g = parse('<Response><Gather action="/a" method="GET" timeout="3" finishOnKey="*" numDigits="4" '
              'input="dtmf speech" language="ko-KR" hints="one, two words,three" partialResultCallback="p" '
              'partialResultCallbackMethod="GET" profanityFilter="false" speechTimeout="auto" '
              'speechModel="phone_call" actionOnEmptyResult="true"><Say>x</Say><Play>a.wav</Play>'
              '<Pause length="2"/></Gather></Response>', URL).verbs[0]
    assert (g.action, g.method, g.timeout, g.finish_on_key, g.num_digits) == ("http://example.com/a", "GET", 3.0, "*", 4)
    assert g.input == frozenset({"dtmf", "speech"}) and g.language == "ko-KR"
    assert g.hints == ["one", "two words", "three"]
    assert g.partial_result_callback == "http://example.com/ivr/p" and g.partial_result_callback_method == "GET"
    assert (g.profanity_filter, g.speech_timeout, g.speech_model, g.action_on_empty_result) == (False, "auto", "phone_call", True)
    assert [type(c) for c in g.children] == [Say, Play, Pause]
    assert g.children[1].url == "http://example.com/ivr/a.wav"


@pytest.mark.parametrize("attr, warning", [
    ('finishOnKey="##"', "finishOnKey='##'"),
    ('numDigits="0"', "numDigits='0'"),
    ('input="keys"', "input='keys'"),
    ('speechModel="fancy"', "speechModel='fancy'"),
    ('profanityFilter="maybe"', "profanityFilter='maybe'"),
    ('method="PUT"', "method='PUT'"),
])
def test_bad_gather_values_warn_and_fall_back_to_defaults(attr, warning):
    doc = parse(f"<Response><Gather {attr}/></Response>", URL)
    assert warning in doc.warnings[0].message
    default = parse("<Response><Gather/></Response>", URL).verbs[0]
    assert doc.verbs[0] == default


def test_empty_finish_on_key_is_allowed():
    assert parse('<Response><Gather finishOnKey=""/></Response>', URL).verbs[0].finish_on_key == ""


def test_hints_are_split_on_commas_and_left_whole_for_the_speech_layer():
    hints = ",".join(f"w{i}" for i in range(600)) + ", " + "x" * 101
    doc = parse(f'<Response><Gather input="speech" hints="{hints}"/></Response>', URL)
    assert len(doc.verbs[0].hints) == 601 and doc.verbs[0].hints[-1] == "x" * 101
    assert doc.warnings == []


def test_nested_verbs_other_than_say_play_pause_are_skipped():
    doc = parse("<Response><Gather><Redirect>/x</Redirect><Say>ok</Say></Gather></Response>", URL)
    assert [type(c) for c in doc.verbs[0].children] == [Say]
    assert "<Redirect> is not supported inside <Gather>" in doc.warnings[0].message


def test_a_document_over_64_kib_is_refused():
    with pytest.raises(TwimlError) as e:
        parse("<Response>" + " " * MAX_DOCUMENT + "</Response>", URL)
    assert e.value.code == 12100


def test_play_digits_keep_only_what_twilio_sends():
    doc = parse('<Response><Play digits="1w2x#"/></Response>', URL)
    assert doc.verbs[0].digits == "1w2#" and "x" in doc.warnings[0].message


def test_gather_is_a_dataclass_the_interpreter_can_compare():
    assert isinstance(parse("<Response><Gather/></Response>", URL).verbs[0], Gather)
