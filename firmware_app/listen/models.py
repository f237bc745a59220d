"""Speech models: each configured language's model, loaded once in the background.

    >>> models = SpeechModels({"ko-KR": "/nonexistent/vosk-model-small-ko-0.22"})
    >>> models.start()
    >>> models.wait(30)
    True
    >>> models.get("ko-KR") is None
    True
    >>> models.why_missing("ko-KR")
    "the speech model for 'ko-KR' failed to load: /nonexistent/vosk-model-small-ko-0.22 does not exist"

``python -m firmware_app.listen.models LANG DIR [--engine NAME]`` downloads a
language's model with the engine that owns it (``make model``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
from pathlib import Path

from drivers.constants import RATE

from .engine import NICE, Engine, Model, ModelError, engine_named, lower_priority


_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class SpeechModels:
    """Loads each configured language's model once, in a background thread, at start;
    the box answers calls meanwhile."""

    def __init__(self, paths: dict[str, str], engine: Engine | None = None) -> None:
        if not isinstance(paths, dict):
            raise TypeError(f"speech model paths must be a dict of language -> directory, got {paths!r}")
        for language, path in paths.items():
            if not isinstance(language, str) or not _TAG.match(language):
                raise ValueError(f"speech model language {language!r} is not a BCP-47 tag such as 'en-US'")
            if not isinstance(path, str) or not path:
                raise ValueError(f"speech model for {language!r}: expected a directory path, got {path!r}")
        if engine is None:
            engine = engine_named("vosk")
        self.paths = dict(paths)
        self.engine = engine
        self._loaded: dict[str, Model] = {}
        self._failed: dict[str, str] = {}
        self.load_seconds: dict[str, float] = {}
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._warming: threading.Thread | None = None

    def start(self) -> None:
        """Begin loading, one model after the other, in a daemon thread. Safe to call twice."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._load_all, name="speech-models", daemon=True)
            self._thread.start()

    def _load_all(self) -> None:
        import time

        for language, path in self.paths.items():
            began = time.perf_counter()
            try:
                model = self.engine.load(path, language)
                self.load_seconds[language] = time.perf_counter() - began
                if hasattr(model, "warm"):
                    model.warm()
                self._loaded[language] = model
            except ModelError as e:
                self._failed[language] = str(e)
            except Exception as e:      # noqa: BLE001 - any engine failure is a reason to report
                self._failed[language] = f"{type(e).__name__}: {e}"
            self.load_seconds.setdefault(language, time.perf_counter() - began)
        self._done.set()

    async def warm_up(self, tts, rate: int = RATE) -> None:
        """Once every model has loaded, let each hear its language's number
        words, said by TTS (``await tts.synth(text, voice, language)`` ->
        (pcm, warning), the box's own voice), in a thread of its own at low
        priority; a language TTS cannot speak is left as it is.

        A fresh open recognizer composes its decoding graph as it decodes, so
        the first words it hears cost it two to four times what they cost once
        it has run: on a Pi Zero 2 W the first caller after a start would be
        recognised slower than they speak. Number words are what IVR callers
        say most. This costs some 2 CPU-s here for the Korean small model,
        once, and the memory those first words would have added anyway.
        """
        while not self._done.is_set():
            await asyncio.sleep(0.5)
        speech = {}
        for language, model in list(self._loaded.items()):
            words = model.number_words() if hasattr(model, "warm") else []
            if not words:
                continue
            try:
                pcm, warning = await tts.synth(" ".join(words), "man", language)
            except Exception as e:      # noqa: BLE001 - the model still works, only cold
                pcm, warning = b"", str(e)
            if warning is None:
                speech[language] = pcm
        if speech:
            self._warming = threading.Thread(target=self._warm, args=(speech, rate), name="speech-warm", daemon=True)
            self._warming.start()

    def _warm(self, speech: dict[str, bytes], rate: int) -> None:
        lower_priority(NICE[False])  # as the fallback recognizer, which only a missed grammar needs
        for language, pcm in speech.items():
            try:
                self._loaded[language].warm(rate, pcm)
            except Exception as e:      # noqa: BLE001 - the model still works, only cold
                logging.getLogger("ivrbox.speech").warning("warming the %s model failed: %s", language, e)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every model has loaded or failed; False on timeout."""
        self.start()
        return self._done.wait(timeout)

    def _key(self, language: str) -> str | None:
        key = language.casefold()
        return next((k for k in self.paths if k.casefold() == key), None)

    def get(self, language: str):
        """The loaded model for LANGUAGE, or None (see why_missing)."""
        key = self._key(language)
        return self._loaded.get(key) if key else None

    def loading(self, language: str) -> bool:
        """True while LANGUAGE's model is configured and on its way, neither loaded nor failed."""
        key = self._key(language)
        return (key is not None and self._thread is not None and key not in self._loaded
                and key not in self._failed and not self._done.is_set())

    def why_missing(self, language: str) -> str:
        """Why get(LANGUAGE) is None, as a sentence for a warning event; '' if it is not."""
        key = self._key(language)
        if key is None:
            known = ", ".join(self.paths) or "none"
            return f"no speech model configured for {language!r} (configured: {known})"
        if key in self._loaded:
            return ""
        if key in self._failed:
            return f"the speech model for {key!r} failed to load: {self._failed[key]}"
        if self._thread is None:
            return f"the speech model for {key!r} is not loading (SpeechModels.start() was not called)"
        return f"the speech model for {key!r} is still loading"




def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m firmware_app.listen.models",
                                description="Download a speech model and print the config line for it.")
    p.add_argument("language", help="a BCP-47 tag, e.g. en-US")
    p.add_argument("directory", type=Path, help="where models live, e.g. /var/lib/ivrbox/models")
    p.add_argument("--engine", default="vosk")
    args = p.parse_args(argv)
    try:
        engine = engine_named(args.engine)
        path = engine.download(args.language, args.directory)
    except (ModelError, OSError) as e:
        print(f"{p.prog}: {e}", file=sys.stderr)
        return 1
    print(f'\nAdd to /etc/ivrbox/config.toml:\n[speech]\nengine = "{engine.name}"\n'
          f'[speech.models]\n"{args.language}" = "{path}"')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
