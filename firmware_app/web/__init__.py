"""Where the box gets its TwiML and audio: HTTP, the bundled flows, and (later) the cache and outbox."""

from .bundled import BundledFlows, Router
from .client import FetchError, HttpClient, Request, Response


def build_fetcher(config: dict):
    """The fetch stack for a config: bundled flows for flows:/ URLs, HTTP for the rest."""
    server = config["server"]
    return Router(HttpClient(auth_token=server["auth_token"], timeout=server["timeout"]))


__all__ = ["BundledFlows", "FetchError", "HttpClient", "Request", "Response", "Router", "build_fetcher"]
