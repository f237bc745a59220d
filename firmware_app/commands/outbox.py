"""Show the caller input waiting for the server (the outbox), or deliver it now.

``ivrbox outbox`` lists the pending requests, oldest first, with their
Digits or SpeechResult, CallSid and when the caller made them.
``ivrbox outbox flush`` sends them to the server in that order; it exits 1
if some are still pending because the server is unreachable.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("list", "flush"), default="list")
    p.add_argument("--config", help="TOML config (default: /etc/ivrbox/config.toml, else the bundled one)")
    p.add_argument("--delivered", type=int, default=0, metavar="N", help="also list the last N delivered")


def describe(item) -> str:
    from ..web.outbox import iso

    p = item.params
    said = " ".join(f"{k}={p[k]}" for k in ("Digits", "SpeechResult") if k in p)
    state = f"HTTP {item.status} at {iso(item.delivered_at)}" if item.delivered_at else (
        f"{item.attempts} tries, last: {item.last_error}" if item.attempts else "not tried yet")
    return f"{item.seq:6} {iso(item.created_at)} {item.method} {item.url} {said} {p.get('CallSid', '')} {item.id} ({state})"


def main(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load
    from ..web.outbox import Outbox, OutboxError, outbox_path

    try:
        config = load(args.config)
        box = Outbox(outbox_path(config))
    except (ConfigError, OutboxError) as e:
        print(f"ivrbox outbox: {e}", file=sys.stderr)
        return 2
    if args.action == "flush":
        return flush(config, box)
    items = box.pending()
    print(f"{len(items)} pending in {box.path}")
    for item in items:
        print(describe(item))
    if args.delivered:
        print("delivered, newest first:")
        for item in box.delivered(args.delivered):
            print(describe(item))
    return 0


def flush(config: dict, box) -> int:
    import asyncio

    from ..web import build_fetcher

    async def run() -> int:
        web = build_fetcher(config)
        try:
            return await web.flush()
        finally:
            await web.close()

    sent = asyncio.run(run())
    left = box.pending()
    print(f"delivered {sent}; {len(left)} pending")
    if left:
        print(f"stopped at: {describe(left[0])}", file=sys.stderr)
        return 1
    return 0
