"""<ConversationRelay> and its <Language> children: the noun of <Connect>.

The box does the relay itself: recognition with the local speech engine,
synthesis with the local voice, barge-in from its own detectors; only text
crosses the WebSocket. ``interruptible`` takes none, dtmf, speech or any
(and Twilio's older true and false).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..schema import Attr, BadValue, Boolean
from .registry import register
from .base import Verb
from .gather import Hints
from .stream import Parameter, WsUrl, parameters

MODES = ("none", "dtmf", "speech", "any")


class Interruptible(Attr):
    def read(self, raw):
        value = {"true": "any", "false": "none"}.get(raw.lower(), raw)
        if value not in MODES:
            raise BadValue("must be one of none, dtmf, speech, any")
        return value


@register
@dataclass
class Language(Verb):
    tag = "Language"
    attributes = (Attr("code"), Attr("ttsProvider", "", "tts_provider"), Attr("voice"),
                  Attr("transcriptionProvider", "", "transcription_provider"),
                  Attr("speechModel", "", "speech_model"))
    top_level = False

    code: str = ""
    tts_provider: str = ""
    voice: str = ""
    transcription_provider: str = ""
    speech_model: str = ""

    @classmethod
    def build(cls, values, children, warn):
        if not values["code"]:
            warn("<Language> has no code; ignored")
            return None
        return cls(**values)


@register
@dataclass
class ConversationRelay(Verb):
    tag = "ConversationRelay"
    attributes = (
        WsUrl("url", ""), Attr("welcomeGreeting", "", "welcome_greeting"),
        Interruptible("welcomeGreetingInterruptible", "any", "welcome_greeting_interruptible"),
        Attr("language", "en-US"), Attr("ttsLanguage", "", "tts_language"),
        Attr("transcriptionLanguage", "", "transcription_language"), Attr("voice", ""),
        Interruptible("interruptible", "any"), Boolean("dtmfDetection", False, "dtmf_detection"),
        Hints("hints", ()),
    )
    nests = ("Parameter", "Language")
    top_level = False

    url: str = ""
    welcome_greeting: str = ""
    welcome_greeting_interruptible: str = "any"
    language: str = "en-US"
    tts_language: str = ""
    transcription_language: str = ""
    voice: str = ""
    interruptible: str = "any"
    dtmf_detection: bool = False
    hints: tuple = ()
    parameters: dict[str, str] = field(default_factory=dict)
    languages: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def build(cls, values, children, warn):
        if not values["url"]:
            warn("<ConversationRelay> needs a ws:// or wss:// url; skipped")
            return None
        languages = {c.code: {"voice": c.voice} for c in children if isinstance(c, Language)}
        return cls(**values, parameters=parameters([c for c in children if isinstance(c, Parameter)], warn),
                   languages=languages)

    def spec(self):
        from ...stream.relay import RelaySpec

        tts = self.tts_language or self.language
        voice = self.voice or self.languages.get(tts, {}).get("voice") or "man"
        return RelaySpec(self.url, self.welcome_greeting, self.welcome_greeting_interruptible, self.language,
                         self.tts_language, self.transcription_language, voice, self.interruptible,
                         self.dtmf_detection, list(self.hints), dict(self.parameters), dict(self.languages))
