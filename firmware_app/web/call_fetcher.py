"""One call's view of the fetch stack: its own cookie jar, and who the caller is.

    >>> import asyncio
    >>> class Web:                          # any fetcher; this one answers with what it was handed
    ...     async def fetch(self, req):
    ...         return Response(req.url, 200, f"{req.caller} {req.jar is not None}".encode())
    >>> async def one_request():
    ...     call = CallFetcher(Web(), "CA123", caller="+15550100")   # in a running loop: aiohttp's jar needs one
    ...     resp = await call.fetch(Request("POST", "http://example.com/ivr"))
    ...     await call.close()
    ...     return resp.body
    >>> asyncio.run(one_request())
    b'+15550100 True'
"""

from __future__ import annotations

from dataclasses import replace

from .client import Request, Response


class CallFetcher:
    """One call's view of the fetcher: its own cookie jar, as Twilio keeps one per call,
    and the caller the cache keeps private answers for. Close it when the call ends."""

    def __init__(self, web, call_sid: str, caller: str = ""):
        self.web, self.call_sid, self.caller = web, call_sid, caller
        import aiohttp  # with the first call, not at start-up: the idle box has no use for it

        self.jar = aiohttp.CookieJar(unsafe=True)  # unsafe: also keep cookies from IP-address hosts

    async def fetch(self, req: Request) -> Response:
        return await self.web.fetch(replace(req, jar=self.jar, caller=req.caller or self.caller))

    async def close(self) -> None:
        self.jar.clear()
