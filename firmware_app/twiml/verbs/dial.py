"""<Dial>: call another number. On a phone line this is a blind transfer.

The box flashes its hook, dials the number and listens to the call progress
(``firmware_app/transfer.py``); when the far end rings or answers, the box
hangs up and the caller is on the new call. Busy, reorder, no dial tone or
no answer within ``timeout`` bring the caller back to the box. A line with
no outside line (kiosk, console) fails at once, with a warning.

Then, as on Twilio: with an ``action``, the box requests it with
``DialCallStatus`` (completed, busy, no-answer, failed, canceled) and
``DialCallDuration``; without one the document goes on after <Dial>. After a
hand-over the action request is still made, and nothing more runs.

    >>> from firmware_app.twiml.parse import parse
    >>> doc = parse('<Response><Dial timeout="10"><Number sendDigits="wwww1">+1 415-555-0100</Number>'
    ...             '</Dial></Response>', "http://example.com/ivr")
    >>> dial = doc.verbs[0]
    >>> dial.timeout, [(n.number, n.send_digits) for n in dial.children]
    (10.0, [('+1 415-555-0100', 'wwww1')])
    >>> dialable("+1 (415) 555-0100")
    '14155550100'
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from ..channel import Dialled, DialRequest
from ..schema import Attr, Boolean, Choice, Number as Seconds, Url
from .base import CONTINUE, STOP, Follow, Verb
from .registry import register
from .unsupported import Unsupported, _unsupported

NOUNS = ("Number", "Sip", "Client", "Conference", "Queue")


def dialable(number: str) -> str:
    """The keys an analog line dials for a number: digits, * and # (a leading + is the exchange's business)."""
    return re.sub(r"[^0-9*#]", "", number)


@register
@dataclass
class Number(Verb):
    tag = "Number"
    attributes = (Attr("sendDigits", "", "send_digits"),)
    body = Attr("number")
    top_level = False

    number: str = ""
    send_digits: str = ""


Sip = _unsupported("Sip", "the box has no SIP stack", top_level=False)
Client = _unsupported("Client", "Twilio Client apps are reached through Twilio only", top_level=False)
Conference = _unsupported("Conference", "one analog line cannot hold a conference", top_level=False)
Queue = _unsupported("Queue", "Twilio's queues live in Twilio", top_level=False)


@register
@dataclass
class Dial(Verb):
    tag = "Dial"
    attributes = (
        Url("action", "", follow="twiml", method="method"),
        Choice("method", "POST", choices=("GET", "POST")),
        Seconds("timeout", 30.0, minimum=5, maximum=600),
        Boolean("hangupOnStar", False, "hangup_on_star"),
        Seconds("timeLimit", 14400.0, "time_limit", minimum=1),
        Attr("callerId", "", "caller_id"),
    )
    body = Attr("number")
    nests = NOUNS

    action: str = ""
    method: str = "POST"
    timeout: float = 30.0
    hangup_on_star: bool = False
    time_limit: float = 14400.0
    caller_id: str = ""
    number: str = ""
    children: list[Verb] = field(default_factory=list)

    def numbers(self) -> list[tuple[str, str]]:
        found = [(n.number, n.send_digits) for n in self.children if isinstance(n, Number)]
        return found or ([(self.number, "")] if self.number.strip() else [])

    async def run(self, ch):
        if self.caller_id:
            ch.emit("warning", message=f"<Dial callerId={self.caller_id!r}>: an analog line always shows its own "
                    "number; ignored")
        outcome = await self._dial(ch)
        params = {"DialCallStatus": outcome.status, "DialCallDuration": str(int(outcome.duration)),
                  "DialCallSid": "CA" + secrets.token_hex(16)}
        if outcome.handed_over:
            if self.action:
                try:
                    await ch.fetch_twiml(self.action, self.method, params, caller_input=True)
                except Exception as e:  # the call has left the box: its answer has nothing to run on
                    ch.emit("warning", message=f"<Dial action> after the transfer: {getattr(e, 'message', e)}")
            return STOP
        if self.action:
            return Follow(self.action, self.method, params, caller_input=True)
        return CONTINUE

    async def _dial(self, ch) -> Dialled:
        unreachable = sorted({c.tag for c in self.children if isinstance(c, Unsupported)})
        if unreachable:
            names = ", ".join(f"<{t}>" for t in unreachable)
            ch.emit("warning", message=f"<Dial> cannot reach {names} from a phone line: DialCallStatus=failed")
            ch.emit("dial", number="", status="failed", duration=0)
            return Dialled("failed")
        numbers = self.numbers()
        if not numbers or not all(dialable(n) for n, _ in numbers):
            ch.emit("warning", message="<Dial> has no number to dial: DialCallStatus=failed")
            return Dialled("failed")
        if len(numbers) > 1:
            ch.emit("warning", message=f"<Dial> has {len(numbers)} numbers; a phone line rings them one after "
                    "another, not all at once")
        for number, send_digits in numbers:
            outcome = await ch.dial(DialRequest(dialable(number), self.timeout, self.time_limit,
                                                send_digits, self.hangup_on_star))
            ch.emit("dial", number=number, status=outcome.status, duration=int(outcome.duration),
                    **({"reason": outcome.reason} if outcome.reason else {}))
            if outcome.reason and outcome.status == "failed":
                ch.emit("warning", message=f"<Dial> {number}: {outcome.reason}")
            if outcome.status == "completed":
                break
        return outcome
