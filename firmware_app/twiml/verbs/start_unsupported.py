"""The nouns of <Start> a box cannot perform: <Transcription> (Twilio's real-time
transcription service) and <Siprec> (recording to a SIP server). Each warns
once, naming itself, and the call goes on.

    >>> from firmware_app.twiml.parse import parse
    >>> doc = parse('<Response><Start><Transcription statusCallbackUrl="/t"/></Start></Response>', "http://x/")
    >>> [c.tag for c in doc.verbs[0].children], doc.warnings
    (['Transcription'], [])
"""

from __future__ import annotations

from .unsupported import _unsupported

Transcription = _unsupported("Transcription", "<Start><Transcription> streams the call to Twilio's transcription "
                             "service (use <Gather input=\"speech\">, which runs on the box)", top_level=False)
Siprec = _unsupported("Siprec", "<Start><Siprec> sends the call to a SIP recording server", top_level=False)
