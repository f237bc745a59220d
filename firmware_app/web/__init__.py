"""Where the box gets its TwiML and audio: HTTP, the cache, the bundled flows, the outbox."""

from .bundled import BundledFlows
from .client import FetchError, HttpClient, Request, Response, redact


def build_fetcher(config: dict):
    """The fetch stack for a config: the offline-first fetcher around the HTTP client.

    A cache or outbox that cannot be opened (a full disk, a read-only mount)
    does not stop the box: the first call reports it as an error event.
    """
    from .cache import Cache, CacheError, cache_dir
    from .offline import OfflineFetcher
    from .outbox import Outbox, OutboxError, outbox_path

    server, offline = config["server"], config["offline"]
    problems, warnings, cache, outbox = [], [], None, None
    try:
        cache = Cache(cache_dir(config), max_bytes=int(config["cache"]["max_mb"] * 1024 * 1024))
    except CacheError as e:
        warnings.append(f"{e}; the cache is bypassed")
    try:
        box = config["outbox"]
        outbox = Outbox(outbox_path(config), max_attempts=box["max_attempts"], max_age=box["max_age_days"] * 86400,
                        retry_base=offline["probe_interval"], retry_max=box["retry_max_seconds"])
    except OutboxError as e:
        problems.append(f"{e}; undelivered input is kept in memory only")
    connect = min(server["connect_timeout"], server["timeout"])
    return OfflineFetcher(
        HttpClient(auth_token=server["auth_token"], timeout=server["timeout"], connect_timeout=connect),
        quick=HttpClient(auth_token=server["auth_token"], timeout=connect, connect_timeout=connect),
        cache=cache, outbox=outbox, fallback_url=server["fallback_url"], offline_flow=offline["flow"],
        connect_timeout=connect, probe_interval=offline["probe_interval"], problems=problems,
        warnings=warnings)


__all__ = ["BundledFlows", "FetchError", "HttpClient", "Request", "Response", "build_fetcher", "redact"]
