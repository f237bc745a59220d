"""A real local HTTP server that serves TwiML routes and records every request.

    with TwimlServer({"/ivr": "<Response><Say>Hi</Say></Response>"}) as server:
        server.url("/ivr")        # http://127.0.0.1:PORT/ivr
        server.requests           # [Recorded(method, path, url, params, headers)]

A route's value is TwiML text, or a callable taking the Recorded request
and returning text, or a (status, headers, body) tuple.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]


class TwimlServer:
    def __init__(self, routes: dict):
        self.routes = routes
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                params = dict(parse_qsl(parts.query if self.command == "GET" else body, keep_blank_values=True))
                rec = Recorded(self.command, parts.path, server.url(self.path), params, dict(self.headers))
                server.requests.append(rec)
                route = server.routes.get(parts.path)
                if route is None:
                    status, headers, payload = 404, {}, "not found"
                elif callable(route):
                    result = route(rec)
                    status, headers, payload = result if isinstance(result, tuple) else (200, {}, result)
                elif isinstance(route, tuple):
                    status, headers, payload = route
                else:
                    status, headers, payload = 200, {}, route
                data = payload.encode() if isinstance(payload, str) else payload
                self.send_response(status)
                headers = {"Content-Type": "text/xml", **headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
