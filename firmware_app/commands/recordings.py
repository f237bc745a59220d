"""List, export or delete the callers' recordings (voicemail from <Record>).

``ivrbox recordings`` (or ``list``) shows them newest first: SID, when,
length, caller, whether anyone has fetched it yet, and the transcription.
``ivrbox recordings export SID... [-o DIR] [--mp3]`` copies them out;
``ivrbox recordings delete SID... | --all`` removes them. Listing and
exporting only read, so they work on a read-only state directory.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("list", "export", "delete"), default="list")
    p.add_argument("sids", nargs="*", metavar="SID", help="recording SIDs (RE...) for export and delete")
    p.add_argument("--config", help="TOML config (default: /etc/ivrbox/config.toml, else the bundled one)")
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="export: the folder to write to (default .)")
    p.add_argument("--mp3", action="store_true", help="export as MP3 instead of WAV")
    p.add_argument("--all", action="store_true", help="export or delete every recording")


def describe(rec) -> str:
    from ..web.outbox import iso

    new = "heard" if rec.heard else "NEW"
    text = ""
    if rec.transcription_status:
        text = f" [{rec.transcription_status}] {rec.transcription_text!r}" if rec.transcription_text else \
            f" [{rec.transcription_status}]"
    return f"{rec.sid}  {iso(rec.created_at)}  {rec.duration:7.1f} s  {rec.caller or 'unknown':>14}  {new:5}{text}"


def main(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load
    from ..recordings.store import StoreError, open_store, recordings_dir

    name = f"ivrbox recordings {args.action}"
    try:
        config = load(args.config)
    except ConfigError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    if args.action != "list" and not args.sids and not args.all:
        print(f"{name}: name the recordings (SID...) or give --all", file=sys.stderr)
        return 2
    try:
        store = open_store(config, readonly=args.action != "delete")
    except StoreError as e:
        if args.action == "list" and not (recordings_dir(config) / "recordings.sqlite").exists():
            print(f"0 recordings in {recordings_dir(config)}")
            return 0
        print(f"{name}: {e}", file=sys.stderr)
        return 1
    try:
        if args.action == "list":
            recs = store.list()
            total = sum(r.bytes for r in recs) / 1024 / 1024
            print(f"{len(recs)} recordings in {store.dir} ({total:.1f} MB)")
            for rec in recs:
                print(describe(rec))
            return 0
        sids = [r.sid for r in store.list()] if args.all else args.sids
        unknown = [s for s in sids if store.get(s) is None]
        for sid in unknown:
            print(f"{name}: no recording {sid!r} in {store.dir}", file=sys.stderr)
        known = [s for s in sids if s not in unknown]
        if args.action == "delete":
            for sid in known:
                store.delete(sid)
                print(f"deleted {sid}")
        else:
            export(store, known, args.output, args.mp3)
        return 1 if unknown else 0
    except (StoreError, OSError) as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()


def export(store, sids: list[str], output: str, mp3: bool) -> None:
    import shutil
    from pathlib import Path

    from ..recordings.server import mp3_chunks

    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    for sid in sids:
        if mp3:
            target = folder / f"{sid}.mp3"
            with target.open("wb") as out:
                for chunk in mp3_chunks(store.path(sid)):
                    out.write(chunk)
        else:
            target = folder / f"{sid}.wav"
            shutil.copyfile(store.path(sid), target)
        print(f"{sid} -> {target}")
