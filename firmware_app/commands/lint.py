"""Check TwiML before a caller does: ivrbox lint URL|FILE|DIR...

Reports schema errors (unknown verbs and attributes, bad values, text over
limits), a <Gather> without an action (its input re-requests the same
document, usually a loop), verbs after <Hangup>, <Redirect> or <Reject>
that can never run, a finishOnKey that is also a digit with numDigits,
speech input in a language with no configured model, and links that do not
resolve: it follows actions and redirects as ``cache warm`` does (one-key
menus with each key), over http(s), bundled ``flows:/`` and local files,
and checks every <Play> file. Prints ``FILE:LINE: level: message`` (or
``--format json``); exits 1 when there is an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="+", metavar="URL|FILE", help="documents to check; a folder means its *.xml")
    p.add_argument("--config", help="TOML config (default: /etc/ivrbox/config.toml, else the bundled one)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--max-documents", type=int, default=200, metavar="N", help="stop following after N documents")


def main(args: argparse.Namespace) -> int:
    import asyncio

    from ..config import ConfigError, load
    from ..twiml.lint import Context

    try:
        config = load(args.config)
    except ConfigError as e:
        print(f"ivrbox lint: {e}", file=sys.stderr)
        return 2
    starts = []
    for target in args.targets:
        if target.startswith(("http://", "https://", "flows:")):
            starts.append(target)
            continue
        path = Path(target)
        if not path.exists():
            print(f"ivrbox lint: {target}: no such file, and not an http(s) or flows: URL", file=sys.stderr)
            return 2
        starts += [file_url(p) for p in (sorted(path.rglob("*.xml")) if path.is_dir() else [path])]
    context = Context(set(config.get("speech.models") or {}))
    linter = Linter(config, context, args.max_documents)
    findings = asyncio.run(linter.run(starts))
    if args.format == "json":
        print(json.dumps([{"file": f, "line": line, "level": level, "message": message}
                          for f, line, level, message in findings], ensure_ascii=False, indent=1))
    else:
        for f, line, level, message in findings:
            print(f"{f}:{line}: {level}: {message}")
        errors = sum(1 for *_, level, _ in findings if level == "error")
        print(f"{linter.documents} documents checked: {errors} errors, {len(findings) - errors} warnings",
              file=sys.stderr)
    return 1 if any(level == "error" for _, _, level, _ in findings) else 0


def file_url(path: Path) -> str:
    """A bundled flow's flows:/ URL (its links resolve as the box resolves them), else a file:// URL."""
    from ..web.bundled import flows_dir

    path, root = path.resolve(), flows_dir().resolve()
    return f"flows:/{path.relative_to(root).as_posix()}" if path.is_relative_to(root) else path.as_uri()


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Linter:
    def __init__(self, config: dict, context, max_documents: int):
        from ..web.bundled import BundledFlows, flows_dir
        from ..web.client import HttpClient

        server = config["server"]
        self.http = HttpClient(auth_token=server["auth_token"], timeout=server["timeout"])
        self.flows = BundledFlows(flows_dir())
        self.files = BundledFlows(Path("/"))
        self.base = {"CallSid": "CA" + "0" * 32, "AccountSid": server["account_sid"], "From": config["call"]["from"],
                     "To": config["call"]["to"], "CallStatus": "in-progress", "Direction": "inbound",
                     "ApiVersion": "2010-04-01"}
        self.context = context
        self.max_documents = max_documents
        self.documents = 0
        self.seen: set = set()
        self.findings: set[tuple[str, int, str, str]] = set()

    async def run(self, starts: list[str]) -> list[tuple[str, int, str, str]]:
        for url in starts:
            try:
                await self.document(url, "POST", {})
            except LookupError as e:
                self.findings.add((url, 0, "error", str(e)))
        return sorted(self.findings, key=lambda f: (f[0], f[1], f[3]))

    async def load(self, url: str, method: str, params: dict, audio: bool = False) -> tuple[str, bytes]:
        """(name to report, body); LookupError says why the URL does not resolve."""
        from urllib.parse import unquote, urlsplit

        from ..web.client import FetchError, Request

        scheme = urlsplit(url).scheme
        if scheme in ("http", "https"):
            request = Request(method, url, {} if audio else {**self.base, **params},
                              kind="audio" if audio else "twiml", input=dict(params))
            try:
                return url, (await self.http.fetch(request)).body
            except FetchError as e:
                raise LookupError(e.message) from None
        if scheme in ("flows", "file"):
            path = unquote(urlsplit(url).path)
            source = self.flows if scheme == "flows" else self.files
            found = (source.root / path.strip("/")) if audio else source.find(path, params)
            if found is None or not found.is_file():
                raise LookupError(f"no file for {url}" + (f" in {source.root}" if scheme == "flows" else ""))
            return shown(found), found.read_bytes()
        raise LookupError(f"{url!r} is not an http(s), flows: or file URL")

    async def document(self, url: str, method: str, params: dict) -> None:
        from ..twiml.lint import check_document

        name, body = await self.load(url, method, params)
        key = name if not name.startswith(("http://", "https://")) else (url, method, tuple(sorted(params.items())))
        if key in self.seen or self.documents >= self.max_documents:
            return
        self.seen.add(key)
        self.documents += 1
        doc, findings = check_document(body, url, self.context)
        self.findings.update((name, f.line, f.level, f.message) for f in findings)
        if doc is None:
            return
        for verb in doc.verbs:
            for each in verb.walk():
                for link in each.links():
                    await self.follow(name, each, link)

    async def follow(self, name: str, verb, link) -> None:
        where = f"<{verb.tag}> links to {link.url}, which does not resolve"
        if link.kind == "audio":
            if (link.url, "audio") not in self.seen:
                self.seen.add((link.url, "audio"))
                try:
                    await self.load(link.url, "GET", {}, audio=True)
                except LookupError as e:
                    self.findings.add((name, verb.line, "error", f"{where}: {e}"))
            return
        failures = []
        for params in link.params or ({},):
            try:
                await self.document(link.url, link.method, params)
            except LookupError as e:
                failures.append(str(e))
        if failures and len(failures) == len(link.params or ({},)):
            self.findings.add((name, verb.line, "error", f"{where}: {failures[0]}"))
