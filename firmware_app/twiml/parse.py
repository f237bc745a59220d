"""Parse a TwiML document into verbs, safely and without I/O.

    >>> doc = parse('<Response><Gather numDigits="1"><Say>Hi</Say></Gather></Response>',
    ...             "http://example.com/ivr")
    >>> doc.verbs[0].action, doc.verbs[0].num_digits, doc.verbs[0].children[0].text
    ('http://example.com/ivr', 1, 'Hi')

Unknown verbs and attributes, and bad attribute values, become warnings; the
call goes on as Twilio's would. A document that does not parse raises
TwimlError with code 12100.
"""

from __future__ import annotations

from urllib.parse import urljoin, uses_relative
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from .verbs import Document, Gather, Hangup, Pause, Play, Redirect, Reject, Say

# urljoin resolves relative URLs only for schemes it knows; the bundled
# flows' flows:/ URLs must resolve like http ones.
if "flows" not in uses_relative:
    uses_relative.append("flows")

MAX_DOCUMENT = 64 * 1024
FINISH_KEYS = set("0123456789#*") | {""}
SPEECH_MODELS = {"default", "numbers_and_commands", "phone_call"}


class TwimlError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def parse(text: str | bytes, url: str) -> Document:
    if len(text) > MAX_DOCUMENT:
        raise TwimlError(12100, f"document is {len(text)} bytes, over the {MAX_DOCUMENT}-byte limit")
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except DefusedXmlException as e:
        raise TwimlError(12100, f"document refused: {type(e).__name__}") from None
    except ParseError as e:
        raise TwimlError(12100, f"document parse failure: {e}") from None
    if root.tag != "Response":
        raise TwimlError(12100, f"root element must be <Response>, not <{root.tag}>")
    doc = Document(url=url, verbs=[])
    reader = _Reader(url, doc.warnings)
    for child in root:
        verb = reader.verb(child, TOP_LEVEL)
        if verb is not None:
            doc.verbs.append(verb)
    return doc


class _Reader:
    def __init__(self, url: str, warnings: list[str]):
        self.url = url
        self.warnings = warnings

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def verb(self, el: Element, allowed: dict):
        build = allowed.get(el.tag)
        if build is None:
            where = "inside <Gather>" if allowed is NESTED else "in <Response>"
            self.warn(f"<{el.tag}> is not supported {where}; skipped")
            return None
        return build(self, el)

    def attrs(self, el: Element, known: set[str]) -> dict[str, str]:
        for name in sorted(el.attrib.keys() - known):
            self.warn(f"<{el.tag}> attribute {name!r} is not supported; ignored")
        return {k: v for k, v in el.attrib.items() if k in known}

    def number(self, el, a, name, default, cast=int, minimum=0):
        if name not in a:
            return default
        try:
            value = cast(a[name])
            if value < minimum:
                raise ValueError
            return value
        except ValueError:
            self.warn(f"<{el.tag} {name}={a[name]!r}> is not a valid value; using {default!r}")
            return default

    def choice(self, el, a, name, default, allowed):
        value = a.get(name, default)
        if value not in allowed:
            self.warn(f"<{el.tag} {name}={value!r}> must be one of {sorted(allowed)}; using {default!r}")
            return default
        return value

    def boolean(self, el, a, name, default):
        value = a.get(name)
        if value is None:
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.warn(f"<{el.tag} {name}={value!r}> must be true or false; using {str(default).lower()}")
        return default

    def resolve(self, url: str) -> str:
        return urljoin(self.url, url.strip())

    def say(self, el):
        a = self.attrs(el, {"voice", "language", "loop"})
        self.children_text_only(el)
        return Say(
            text=(el.text or "").strip(),
            voice=a.get("voice", "man"),
            language=a.get("language", "en-US"),
            loop=self.number(el, a, "loop", 1),
        )

    def play(self, el):
        a = self.attrs(el, {"loop", "digits"})
        self.children_text_only(el)
        url = (el.text or "").strip()
        digits = a.get("digits", "")
        bad = set(digits) - set("0123456789*#ABCDw")
        if bad:
            self.warn(f"<Play digits={digits!r}> has characters Twilio does not send: {''.join(sorted(bad))}; dropped")
            digits = "".join(c for c in digits if c not in bad)
        if not url and not digits:
            self.warn("<Play> has neither a URL nor digits; skipped")
            return None
        return Play(url=self.resolve(url) if url else "", loop=self.number(el, a, "loop", 1), digits=digits)

    def pause(self, el):
        a = self.attrs(el, {"length"})
        return Pause(length=self.number(el, a, "length", 1.0, float))

    def gather(self, el):
        a = self.attrs(el, {
            "action", "method", "timeout", "finishOnKey", "numDigits", "input", "language", "hints",
            "partialResultCallback", "partialResultCallbackMethod", "profanityFilter", "speechTimeout",
            "speechModel", "actionOnEmptyResult",
        })
        finish = a.get("finishOnKey", "#")
        if finish not in FINISH_KEYS:
            self.warn(f"<Gather finishOnKey={finish!r}> must be one of 0-9, #, * or ''; using '#'")
            finish = "#"
        inputs = frozenset(a.get("input", "dtmf").split())
        if not inputs or not inputs <= {"dtmf", "speech"}:
            self.warn(f"<Gather input={a.get('input')!r}> must be dtmf, speech or 'dtmf speech'; using dtmf")
            inputs = frozenset({"dtmf"})
        speech_timeout = a.get("speechTimeout")
        if speech_timeout is not None and speech_timeout != "auto":
            speech_timeout = self.number(el, a, "speechTimeout", None, float)
        num_digits = self.number(el, a, "numDigits", None, int, minimum=1)
        return Gather(
            action=self.resolve(a.get("action", "")),
            method=self.choice(el, a, "method", "POST", {"GET", "POST"}),
            timeout=self.number(el, a, "timeout", 5.0, float),
            finish_on_key=finish,
            num_digits=num_digits,
            input=inputs,
            language=a.get("language", "en-US"),
            hints=self.hints(a.get("hints", "")),
            partial_result_callback=self.resolve(a["partialResultCallback"]) if a.get("partialResultCallback") else "",
            partial_result_callback_method=self.choice(el, a, "partialResultCallbackMethod", "POST", {"GET", "POST"}),
            profanity_filter=self.boolean(el, a, "profanityFilter", True),
            speech_timeout=speech_timeout,
            speech_model=self.choice(el, a, "speechModel", "default", SPEECH_MODELS),
            action_on_empty_result=self.boolean(el, a, "actionOnEmptyResult", False),
            children=[v for v in (self.verb(c, NESTED) for c in el) if v is not None],
        )

    def hints(self, text: str) -> list[str]:
        """Split only: the speech layer applies Twilio's limits, and warns, where it knows the model."""
        return [h.strip() for h in text.split(",") if h.strip()]

    def redirect(self, el):
        a = self.attrs(el, {"method"})
        return Redirect(url=self.resolve((el.text or "").strip()),
                        method=self.choice(el, a, "method", "POST", {"GET", "POST"}))

    def hangup(self, el):
        self.attrs(el, set())
        return Hangup()

    def reject(self, el):
        a = self.attrs(el, {"reason"})
        return Reject(reason=self.choice(el, a, "reason", "rejected", {"rejected", "busy"}))

    def connect(self, el):
        from ..stream.verbs import Connect

        a = self.attrs(el, {"action", "method"})
        nouns = [n for n in (self.noun(c, {"Stream": self.stream, "ConversationRelay": self.relay}) for c in el) if n]
        if len(nouns) != 1:
            self.warn(f"<Connect> needs exactly one <Stream> or <ConversationRelay>, found {len(nouns)}; skipped")
            return None
        return Connect(nouns[0], self.resolve(a["action"]) if a.get("action") else "",
                       self.choice(el, a, "method", "POST", {"GET", "POST"}))

    def start(self, el):
        from ..stream.verbs import Start

        self.attrs(el, {"action", "method"})
        nouns = [n for n in (self.noun(c, {"Stream": self.stream}) for c in el) if n]
        if len(nouns) != 1:
            self.warn(f"<Start> needs exactly one <Stream>, found {len(nouns)}; skipped")
            return None
        return Start(nouns[0])

    def stop(self, el):
        from ..stream.verbs import Stop

        names = [c.attrib.get("name", "") for c in el if c.tag == "Stream"]
        if len(names) != 1 or not names[0] or len(el) != 1:
            self.warn("<Stop> needs one <Stream name=...>; skipped")
            return None
        return Stop(names[0])

    def noun(self, el, allowed):
        build = allowed.get(el.tag)
        if build is None:
            self.warn(f"<{el.tag}> is not supported here; skipped")
            return None
        return build(el)

    def ws_url(self, el, a):
        url = a.get("url", "").strip()
        if not url.startswith(("ws://", "wss://")):
            self.warn(f"<{el.tag} url={url!r}> must be a ws:// or wss:// URL; skipped")
            return None
        return url

    def parameters(self, el, nested=("Parameter",)):
        params, languages = {}, {}
        for child in el:
            if child.tag == "Parameter" and child.attrib.get("name"):
                params[child.attrib["name"]] = child.attrib.get("value", "")
            elif child.tag == "Language" and "Language" in nested and child.attrib.get("code"):
                languages[child.attrib["code"]] = dict(child.attrib)
            else:
                self.warn(f"<{child.tag}> inside <{el.tag}> is not supported (or has no name); ignored")
        return params, languages

    def stream(self, el):
        from ..stream.media import StreamSpec

        a = self.attrs(el, {"url", "name", "track", "statusCallback", "statusCallbackMethod"})
        url = self.ws_url(el, a)
        params, _ = self.parameters(el)
        callback = a.get("statusCallback", "")
        return url and StreamSpec(
            url, a.get("name", ""), self.choice(el, a, "track", "inbound_track",
                                                {"inbound_track", "outbound_track", "both_tracks"}),
            False, params, self.resolve(callback) if callback else "",
            self.choice(el, a, "statusCallbackMethod", "POST", {"GET", "POST"}))

    def relay(self, el):
        from ..stream.relay import MODES, RelaySpec

        a = self.attrs(el, {"url", "welcomeGreeting", "welcomeGreetingInterruptible", "language", "ttsLanguage",
                            "transcriptionLanguage", "voice", "interruptible", "dtmfDetection", "hints"})
        url = self.ws_url(el, a)
        params, languages = self.parameters(el, ("Parameter", "Language"))
        legacy = {"true": "any", "false": "none"}
        modes = {k: legacy.get(a.get(k, "any").lower(), a.get(k, "any")) for k in
                 ("interruptible", "welcomeGreetingInterruptible")}
        for key, value in modes.items():
            if value not in MODES:
                self.warn(f"<ConversationRelay {key}={value!r}> must be one of none, dtmf, speech, any; using any")
                modes[key] = "any"
        language = a.get("language", "en-US")
        return url and RelaySpec(
            url, a.get("welcomeGreeting", ""), modes["welcomeGreetingInterruptible"], language,
            a.get("ttsLanguage", ""), a.get("transcriptionLanguage", ""),
            a.get("voice", languages.get(a.get("ttsLanguage", language), {}).get("voice", "man")),
            modes["interruptible"], self.boolean(el, a, "dtmfDetection", False), self.hints(a.get("hints", "")),
            params, languages)

    def children_text_only(self, el):
        for child in el:
            self.warn(f"<{child.tag}> inside <{el.tag}> is not supported; ignored")


TOP_LEVEL = {
    "Say": _Reader.say, "Play": _Reader.play, "Pause": _Reader.pause, "Gather": _Reader.gather,
    "Redirect": _Reader.redirect, "Hangup": _Reader.hangup, "Reject": _Reader.reject,
    "Connect": _Reader.connect, "Start": _Reader.start, "Stop": _Reader.stop,
}
NESTED = {"Say": _Reader.say, "Play": _Reader.play, "Pause": _Reader.pause}
