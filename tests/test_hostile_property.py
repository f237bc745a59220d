"""Property-based: generated TwiML documents and attribute values thrown at the
parser and at the interpreter running a real Call on a simulated line.

The only exception a document may raise is TwimlError (12100, it does not
parse); everything else is a warning or an error event, every event is
strict JSON, and the call ends with a hangup within its max_seconds. The
verbs and their attributes come from the registry, so a new verb is thrown
at too. The budget is the hypothesis profile in conftest.py ("ci": 200
examples a test, derandomized, about 20 s for the four on an idle machine);
HYPOTHESIS_PROFILE=deep searches 5000 random ones.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from xml.sax.saxutils import escape, quoteattr

from hypothesis import event, example, given, strategies as st

from bench.hostile_media import flac_silence, wav
from drivers.sim import SimLine
from firmware_app.call import Call
from firmware_app.config import defaults
from firmware_app.listen.tones import dtmf_audio
from firmware_app.speak.tts import Synthesizer
from firmware_app.twiml.parse import Document, TwimlError, parse
from firmware_app.twiml.schema import BadValue, Number
from firmware_app.twiml.verbs import load_all, lookup
from firmware_app.web.client import FetchError, Response, browser_url

START = "http://example.com/ivr"
MAX_SECONDS = 30.0
WALL_SECONDS = 60.0  # a call that spins without its clock moving fails here instead of hanging the suite
SAME_INSTANT = 50  # one problem reported this often at one call time: a loop spinning on it

KNOWN = sorted(load_all())
UNKNOWN = ["Dial", "Record", "Enqueue", "Foo", "say", "Response", "emphasis"]
SSML_TAGS = ["break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w", "speak", "audio", "foo"]
SSML_ATTRS = ["time", "strength", "level", "xml:lang", "alphabet", "ph", "rate", "pitch", "volume", "interpret-as",
              "format", "alias", "role"]
EXTRA_ATTRS = ["volume", "Loop", "xml:lang", "action2", "x-y"]

NUMBERS = ["NaN", "nan", "-nan", "inf", "-inf", "+inf", "Infinity", "1e400", "-1e400", "1e308", "-1", "-0", "0",
           "0.0", "1e-400", "99999999999999999999999", "0x10", "1_000", " 5 ", "5s", "", "\u0663", "1e3", "0.5",
           "4294967296", "-99999999999", "99999999999", "3"]
URLS = ["http://[::1/x", "http://" + "a" * 64 + ".example.com/", "/café", "http://host:99999/",
        "http://exa mple.com/", "http:///nohost", "javascript:alert(1)", "flows:/../../../etc/passwd",
        "flows:/demo/index.xml", "file:///etc/passwd", "//", "?", "#frag", "http://user:pass@example.com/x",
        "/" + "x" * 5000, "ftp://example.com/a.wav", "data:audio/wav;base64,AAAA", "/a.wav", "next", "",
        "http://example.com/ok", "http://例え.jp/", "http://[::1]:8080/x", "%zz", "http://h/%00"]
STRINGS = ["true", "FALSE", "dtmf speech", "speech", "dtmf", "auto", "#", "*", "GET", "PUT", "post", "busy",
           "man", "woman", "alice", "Polly.Joanna", "xx-XX", "ko-KR", "en-US", "é" * 100, "x" * 5000,
           "<emphasis>", "&", "\u202e", "🎉", "w" * 300, "1234#", "ABCDw*#", "phone_call"]


# What XML 1.0 allows: no control characters but tab and newlines, no surrogates, no noncharacters.
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn")) | st.sampled_from("\t\n\r"),
               max_size=40)
values = st.one_of(st.sampled_from(NUMBERS + URLS + STRINGS), st.floats().map(str),
                   st.integers(-(2 ** 70), 2 ** 70).map(str), text)


def element(tag: str, attrs: dict[str, str], inner: str) -> str:
    rendered = "".join(f" {name}={quoteattr(value)}" for name, value in attrs.items())
    return f"<{tag}{rendered}>{inner}</{tag}>" if inner else f"<{tag}{rendered}/>"


ssml = st.recursive(
    text.map(escape),
    lambda inner: st.builds(lambda tag, attrs, kids: element(tag, attrs, "".join(kids)), st.sampled_from(SSML_TAGS),
                            st.dictionaries(st.sampled_from(SSML_ATTRS), values, max_size=2),
                            st.lists(inner, max_size=3)),
    max_leaves=8,
)


def attribute_names(tag: str) -> st.SearchStrategy[str]:
    cls = lookup(tag)
    return st.sampled_from([a.name for a in cls.attributes] * 3 + EXTRA_ATTRS if cls else EXTRA_ATTRS)


def body(tag: str) -> st.SearchStrategy[str]:
    if tag == "Say":
        return st.lists(ssml, max_size=3).map("".join)
    cls = lookup(tag)
    if cls is not None and cls.body is not None:
        return st.sampled_from(URLS).map(escape) | text.map(escape)
    return st.just("") | text.map(escape)


def verbs(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def one(tag):
        return st.builds(lambda attrs, inner, kids: element(tag, attrs, inner + "".join(kids)),
                         st.dictionaries(attribute_names(tag), values, max_size=4), body(tag),
                         st.lists(children, max_size=3))
    return st.sampled_from(KNOWN + UNKNOWN).flatmap(one)


leaf = st.sampled_from(KNOWN + UNKNOWN).map(lambda tag: f"<{tag}/>")
documents = st.recursive(leaf, verbs, max_leaves=10).map(lambda v: [v]) | st.lists(verbs(verbs(leaf)), max_size=4)
documents = documents.map(lambda vs: "<Response>" + "".join(vs) + "</Response>")


def finite_fields(verb) -> list[str]:
    """The names of the verb's numeric fields that hold something other than a finite number."""
    bad = []
    for attr in verb.attributes:
        value = getattr(verb, attr.key)
        if isinstance(attr, Number) and isinstance(value, (int, float)) and not math.isfinite(value):
            bad.append(attr.name)
    return bad


def check_document(doc: Document) -> None:
    for warning in doc.warnings:
        assert isinstance(warning.message, str) and warning.message and warning.line >= 0
    for top in doc.verbs:
        for verb in top.walk():
            assert not finite_fields(verb), (verb, finite_fields(verb))


@given(documents)
def test_any_generated_document_parses_or_is_a_twiml_error(document):
    try:
        doc = parse(document, START)
    except TwimlError as e:
        assert e.code == 12100
        return
    check_document(doc)


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                 documents.map(lambda d: d[:len(d) // 2]),       # cut off half way
                 documents.map(lambda d: d.replace("Response", "Respons", 1)),
                 documents.map(lambda d: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + d)))
def test_anything_at_all_parses_or_is_a_twiml_error(data):
    try:
        check_document(parse(data, START))
    except TwimlError as e:
        assert e.code == 12100


@given(st.data())
def test_a_bad_attribute_value_is_a_warning_naming_the_verb_attribute_and_value(data):
    # Verbs that stand in <Response>: a noun (<Stream>, <Number>) is read only inside its verb.
    tag = data.draw(st.sampled_from([t for t in KNOWN if lookup(t).attributes and lookup(t).top_level]),
                    label="verb")
    attr = data.draw(st.sampled_from(lookup(tag).attributes), label="attribute")
    value = data.draw(values, label="value")
    try:
        attr.resolve(attr.read(value), START)
        refused = None
    except BadValue as e:
        refused = e
    doc = parse(f"<Response>{element(tag, {attr.name: value}, '')}</Response>", START)
    check_document(doc)
    if refused is not None:
        named = f"<{tag} {attr.name}={value!r}>"
        assert any(w.message.startswith(named) for w in doc.warnings), (named, doc.warnings)


# The interpreter, on a real Call over a simulated line

SCRIPTS = ["", "wait:listen dtmf:1", "wait:prompt key:12#", "wait:1 hangup", "wait:listen dtmf:9*# wait:listen key:1",
           "wait:0.5 dtmf:0 wait:3 key:#"]
audio = st.one_of(
    st.builds(wav, st.sampled_from([b"", bytes(2), bytes(320), bytes(3200)]),
              rate=st.sampled_from([0, 1, 3999, 4000, 8000, 44100, 384000, 384001, 2 ** 32 - 1]),
              channels=st.sampled_from([0, 1, 2, 3, 6, 255]), bits=st.sampled_from([0, 8, 12, 16, 24, 32]),
              tag=st.sampled_from([1, 3, 0x1234, 0xFFFE])),
    st.binary(max_size=200),
    st.sampled_from([flac_silence(0.5), b"<html>not audio</html>"]),
)
answers = st.one_of(documents, documents, st.binary(max_size=100), st.sampled_from([11200, 11205, 12300]))
TTS = Synthesizer(cache_bytes=4_000_000)


class Server:
    """The fetcher: the drawn answers in turn, for documents and for audio; a number is that FetchError."""

    def __init__(self, documents: list, sounds: list):
        self.documents, self.sounds = list(documents), list(sounds)

    async def fetch(self, request):
        try:
            if not request.url.startswith("flows:"):
                browser_url(request.url)
        except ValueError as e:  # as the real client: a URL that cannot be built fails alone
            raise FetchError(11100, f"invalid URL: {e}", request.url) from None
        queue = self.sounds if request.kind == "audio" else self.documents
        if request.kind == "callback":
            return Response(request.url, 200, b"")
        answer = queue.pop(0) if queue else (b"" if request.kind == "audio" else "<Response><Hangup/></Response>")
        if isinstance(answer, int):
            raise FetchError(answer, "drawn failure", request.url)
        return Response(request.url, 200, answer if isinstance(answer, bytes) else answer.encode())


def run_call(documents: list, sounds: list, script: str) -> list[dict]:
    config = defaults()
    config["server"]["url"] = START
    events: list[dict] = []
    line = SimLine(script=script, max_seconds=MAX_SECONDS, tones=dtmf_audio)
    call = Call(line, config, fetcher=Server(documents, sounds), tts=TTS, sinks=[events.append])

    async def main():
        try:
            await asyncio.wait_for(call.run(await line.wait_for_call()), WALL_SECONDS)
        except TimeoutError:
            raise AssertionError(f"the call was still running after {WALL_SECONDS:g} s of wall time "
                                 f"at call time {call.now:.2f} s") from None

    asyncio.run(main())
    return events


@example(['<Response><Say loop="99999999999"/></Response>'], [], "")  # found here: a loop that played nothing spun
@example(['<Response><Play loop="0">/a.wav</Play></Response>'], [11200], "")
@given(st.tuples(documents, st.lists(answers, max_size=2)).map(lambda t: [t[0], *t[1]]),
       st.lists(audio | st.just(11200), max_size=3), st.sampled_from(SCRIPTS))
def test_the_interpreter_takes_any_document_to_a_clean_hangup(answers, sounds, script):
    events = run_call(answers, sounds, script)
    for record in events:
        json.dumps(record, allow_nan=False)  # strict JSON: no NaN, no infinity, nothing but JSON types
        if record["event"] == "error":
            assert isinstance(record["code"], int) and isinstance(record["message"], str), record
            assert not record["message"].startswith("internal error"), record
        if record["event"] == "warning":
            assert isinstance(record["message"], str) and record["message"], record
    same = Counter((e["t"], e["event"], e.get("code"), e.get("message")) for e in events
                   if e["event"] in ("error", "warning"))
    assert max(same.values(), default=0) <= SAME_INSTANT, same.most_common(1)  # no spinning on one problem
    times = [e["t"] for e in events]
    assert times == sorted(times) and times[-1] <= MAX_SECONDS + 1, times
    public = [e["event"] for e in events if not e["event"].startswith("_")]
    event("events: " + " ".join(sorted(set(public) - {"request", "hangup"})))
    assert public[0] == "request" and public[-1] == "hangup" and public.count("hangup") == 1, public
