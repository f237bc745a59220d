"""The bundled flows: TwiML files under flows/, served for ``flows:/`` URLs.

A path names a menu node; the caller's Digits pick a child file, so a static
folder can branch:

    flows:/demo/menu  with Digits=2  ->  flows/demo/menu/2.xml
                                         flows/demo/menu.xml, flows/demo/menu/index.xml

    >>> flows = BundledFlows(FLOWS_DIR)
    >>> flows.find("/demo/index.xml", {}).name
    'index.xml'

A flow can carry its own audio: ``<Play>flows:/kiosk/welcome.wav</Play>``
plays flows/kiosk/welcome.wav. No path, however written, leaves the folder:

    >>> flows.file("/../pyproject.toml") is None
    True
"""

from __future__ import annotations

import mimetypes
import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .client import FetchError, Request, Response


def flows_dir() -> Path:
    """$IVRBOX_FLOWS, else the checkout's flows/, else the installed share/ivrbox/flows."""
    if os.environ.get("IVRBOX_FLOWS"):
        return Path(os.environ["IVRBOX_FLOWS"])
    checkout = Path(__file__).resolve().parents[2] / "flows"
    return checkout if checkout.is_dir() else Path(sys.prefix) / "share" / "ivrbox" / "flows"


FLOWS_DIR = flows_dir()


class BundledFlows:
    def __init__(self, root: Path = FLOWS_DIR):
        self.root = Path(root).resolve()

    def find(self, path: str, params: dict[str, str]) -> Path | None:
        node = self.root / path.strip("/")
        if node.suffix == ".xml":
            node = node.with_suffix("")
        candidates = []
        if params.get("Digits"):
            candidates.append(node / f"{params['Digits']}.xml")
        candidates += [node.with_name(node.name + ".xml"), node / "index.xml"]
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved.is_file() and resolved.is_relative_to(self.root):
                return resolved
        return None

    def file(self, path: str) -> Path | None:
        """The file at PATH under the flows folder, exactly; None when there is none or it lies outside."""
        resolved = (self.root / unquote(path).lstrip("/")).resolve()
        return resolved if resolved.is_file() and resolved.is_relative_to(self.root) else None

    async def fetch(self, req: Request) -> Response:
        path = urlsplit(req.url).path
        if req.kind == "audio":
            found = self.file(path)
            if found is None:
                raise FetchError(11200, f"no bundled audio file {path!r} in {self.root}", req.url, 404)
            kind = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
            return Response(req.url, 200, found.read_bytes(), {"content-type": kind})
        found = self.find(path, req.params)
        if found is None:
            raise FetchError(11200, f"no bundled flow for {path!r} in {self.root}", req.url, 404)
        return Response(req.url, 200, found.read_bytes(), {"content-type": "text/xml"})
