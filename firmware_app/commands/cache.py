"""List, prune or warm the cache of TwiML documents and audio.

``ivrbox cache list`` shows every entry: fresh or stale, size, method, URL
and the caller input it answers. ``ivrbox cache prune`` drops entries not
refreshed for --older-than days or past --max-mb, and orphaned bodies.
``ivrbox cache warm URL`` crawls a flow ahead of time, for kiosks: every
document reachable by <Redirect> and <Gather> actions (one-key menus are
tried with each key) and every <Play> audio file, so the box can run the
flow with the server gone.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("list", "prune", "warm"))
    p.add_argument("url", nargs="?", help="warm: the flow's start document (default: [server] url)")
    p.add_argument("--config", help="TOML config (default: /etc/ivrbox/config.toml, else the bundled one)")
    p.add_argument("--older-than", type=float, metavar="DAYS", help="prune: entries not refreshed for DAYS")
    p.add_argument("--max-mb", type=float, metavar="MB", help="prune: keep the most recent entries within MB")
    p.add_argument("--max-documents", type=int, default=200, metavar="N", help="warm: stop after N documents")


def main(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load
    from ..web.cache import Cache, CacheError, cache_dir

    try:
        config = load(args.config)
        cache = Cache(cache_dir(config))
    except (ConfigError, CacheError) as e:
        print(f"ivrbox cache: {e}", file=sys.stderr)
        return 2
    if args.action == "list":
        entries = cache.entries()
        print(f"{len(entries)} entries in {cache.root}")
        for e in entries:
            state = "fresh" if e.fresh else "stale"
            said = " ".join(f"{k}={v}" for k, v in e.input.items())
            print(f"{state:5} {e.size:9} {e.kind:5} {e.method:4} {e.url} {said}".rstrip())
        return 0
    if args.action == "prune":
        if args.older_than is None and args.max_mb is None:
            print("ivrbox cache prune: give --older-than DAYS and/or --max-mb MB", file=sys.stderr)
            return 2
        older = args.older_than * 86400 if args.older_than is not None else None
        limit = int(args.max_mb * 1024 * 1024) if args.max_mb is not None else None
        entries, files = cache.prune(older, limit)
        print(f"pruned {entries} entries and {files} body files")
        return 0
    return warm(config, args.url or config["server"]["url"], args.max_documents)


def warm(config: dict, url: str, max_documents: int) -> int:
    import asyncio

    from ..web import build_fetcher

    if not url.startswith(("http://", "https://")):
        print(f"ivrbox cache warm: {url!r} is not an http(s) URL", file=sys.stderr)
        return 2

    async def run():
        fetcher = build_fetcher(config)
        try:
            return await crawl(fetcher, url, config["server"]["method"], config, max_documents)
        finally:
            await fetcher.close()

    docs, audio, errors = asyncio.run(run())
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    print(f"warmed {docs} documents and {audio} audio files; {len(errors)} errors")
    return 1 if errors else 0


async def crawl(fetcher, url: str, method: str, config: dict, max_documents: int = 200):
    """Fetch every document and audio file reachable from URL into the cache. Returns (docs, audio, errors).

    What to follow comes from the verb registry: each verb's links (its URL
    attributes marked twiml or audio) and the parameter sets to try.
    """
    from ..twiml.parse import TwimlError, parse
    from ..web.client import FetchError, Request

    base = {"CallSid": "CA" + "0" * 32, "AccountSid": config["server"]["account_sid"],
            "From": config["call"]["from"], "To": config["call"]["to"], "CallStatus": "in-progress",
            "Direction": "inbound", "ApiVersion": "2010-04-01"}
    headers = {"X-Ivrbox-Warm": "1"}
    todo, seen, sounds = [(url, method, ())], set(), set()
    docs, errors = 0, []
    while todo and docs < max_documents:
        target = todo.pop(0)
        if target in seen or not target[0].startswith(("http://", "https://")):
            continue
        seen.add(target)
        doc_url, doc_method, extra = target
        try:
            resp = await fetcher.from_origin(Request(doc_method, doc_url, {**base, **dict(extra)}, headers=headers,
                                                 input=dict(extra)))
            doc = parse(resp.body, resp.url)
        except (FetchError, TwimlError) as e:
            if extra and isinstance(e, FetchError) and not e.unreachable:
                continue  # a menu key the server does not take
            errors.append(f"{doc_method} {doc_url} {dict(extra)}: {e.message}")
            continue
        docs += 1
        for link in links(doc):
            if link.kind == "audio":
                sounds.add(link.url)
            elif link.kind == "twiml":
                todo += [(link.url, link.method, tuple(params.items())) for params in link.params]
    audio = 0
    for sound in sorted(sounds):
        try:
            await fetcher.from_origin(Request("GET", sound, {}, kind="audio", headers=headers))
            audio += 1
        except FetchError as e:
            errors.append(f"GET {sound}: {e.message}")
    return docs, audio, errors


def links(doc):
    """Every link of every verb in a document, nested ones included."""
    for verb in doc.verbs:
        for each in verb.walk():
            yield from each.links()
