"""Show the caller input waiting for servers (the outbox), deliver it now, retry or drop it.

``ivrbox outbox`` lists the pending requests, oldest first, with the
caller's input, CallSid and when the caller made them, then the dead-letter
list (items that ran out of attempts or age). It works on a read-only disk.
``ivrbox outbox flush`` sends the pending ones, in order per server; it exits
1 if some are still pending because their server is unreachable.
``ivrbox outbox retry ID`` (or ``--all``) moves dead letters back to pending
and tries them now; ``ivrbox outbox drop ID`` forgets one for good.
Passwords in URLs are shown as ``***``.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("list", "flush", "retry", "drop"), default="list")
    p.add_argument("id", nargs="?", help="retry, drop: the item's id (from the listing)")
    p.add_argument("--all", action="store_true", help="retry: every dead letter")
    p.add_argument("--config", help="TOML config (default: /etc/ivrbox/config.toml, else the bundled one)")
    p.add_argument("--delivered", type=int, default=0, metavar="N", help="also list the last N delivered")


def describe(item) -> str:
    from ..web.client import redact
    from ..web.outbox import iso

    said = " ".join(f"{k}={v}" for k, v in item.input.items())
    if item.delivered_at:
        state = f"HTTP {item.status} at {iso(item.delivered_at)}"
    elif item.dead_at:
        state = f"dead since {iso(item.dead_at)} after {item.attempts} tries, last: {item.last_error}"
    else:
        state = f"{item.attempts} tries, last: {item.last_error}" if item.attempts else "not tried yet"
    return (f"{item.seq:6} {iso(item.created_at)} {item.method} {redact(item.url)} {said} "
            f"{item.params.get('CallSid', '')} {item.id} ({state})")


def main(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load
    from ..web.outbox import Outbox, OutboxError, outbox_path

    if args.action in ("retry", "drop") and not (args.id or (args.all and args.action == "retry")):
        print(f"ivrbox outbox {args.action}: give an item id" + (" or --all" if args.action == "retry" else ""),
              file=sys.stderr)
        return 2
    try:
        config = load(args.config)
        path = outbox_path(config)
        if args.action == "list":
            try:
                box = Outbox(path)
            except OutboxError:
                box = Outbox(path, read_only=True)  # a full or read-only disk: still show what waits
        else:
            box = Outbox(path)
    except (ConfigError, OutboxError) as e:
        print(f"ivrbox outbox: {e}", file=sys.stderr)
        return 2
    if args.action == "flush":
        return flush(config, box)
    if args.action == "drop":
        item = box.drop(args.id)
        if item is None:
            print(f"ivrbox outbox drop: no undelivered item {args.id}", file=sys.stderr)
            return 1
        print(f"dropped: {describe(item)}")
        return 0
    if args.action == "retry":
        moved = box.retry(None if args.all else args.id)
        if not moved and not args.all:
            print(f"ivrbox outbox retry: no dead letter {args.id}", file=sys.stderr)
            return 1
        print(f"{moved} dead letter(s) back in the queue")
        return flush(config, box)
    items, dead = box.pending(), box.dead()
    print(f"{len(items)} pending in {box.path}" + (" (read-only)" if box.read_only else ""))
    for item in items:
        print(describe(item))
    print(f"{len(dead)} dead letters (ivrbox outbox retry ID|--all, drop ID)")
    for item in dead:
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
