"""X-Twilio-Signature, as Twilio signs its webhooks.

HMAC-SHA1 keyed with the auth token over the full URL followed by each POST
parameter's name and value, sorted by name; base64-encoded. GET requests sign
the URL alone, query string included.

    >>> sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
    ...      {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675310", "Digits": "1234",
    ...       "From": "+14158675310", "To": "+18005551212"})
    'GvWf1cFY/Q7PnoempGyD5oXAezc='
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    data = url + "".join(k + v for k, v in sorted((params or {}).items()))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
