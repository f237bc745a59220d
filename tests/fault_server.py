"""Local servers that fail on purpose: stopped, restarted on the same port, hung, trickling.

    with FaultServer({"/ivr": "<Response/>"}) as server:
        server.stop()             # the port now refuses connections
        server.start()            # the same port answers again

    with Hung() as hung:          # accepts connections, never answers
        hung.url("/ivr")
    Trickle()                     # answers one byte every tenth of a second
    HeaderTrickle()               # a status line, then its headers one byte at a time, forever
    SlowBody()                    # headers, then a long audio body in small chunks
    Drop()                        # reads the request, hangs up without answering

All of them listen on 127.0.0.1 only.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import ThreadingHTTPServer

from twiml_server import TwimlServer


class FaultServer(TwimlServer):
    """A TwimlServer that can be stopped and started again on the same port."""

    def __init__(self, routes: dict):
        super().__init__(routes)
        self.handler = self.httpd.RequestHandlerClass
        self.running = False

    def __enter__(self):
        super().__enter__()
        self.running = True
        return self

    def __exit__(self, *exc):
        if self.running:
            self.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.running = False

    def start(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def tokens(self, path: str | None = None) -> list[str]:
        return [r.headers.get("I-Twilio-Idempotency-Token", "") for r in self.requests
                if path is None or r.path == path]


class _RawServer:
    """A bare listening socket. Subclasses that answer call ``serve()``; each
    connection is then handed to ``handle(conn)`` in a thread of its own."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self) -> None:
        self.sock.settimeout(0.2)  # so the accept loop notices stopping
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.sock.close()
        for t in self.threads:
            t.join(timeout=2)


class Hung(_RawServer):
    """Connections complete in the kernel's backlog; nobody ever reads or answers them."""


class Drop(_RawServer):
    """Reads each request, then closes the connection without a word: a server dying mid-exchange."""

    def __init__(self):
        super().__init__()
        self.received = 0
        self.serve()

    def handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1)
            try:
                if conn.recv(65536):
                    self.received += 1
            except OSError:
                pass


class Trickle(_RawServer):
    """Answers 200 with a TwiML body promised in full, sent one byte per ``delay`` seconds."""

    def __init__(self, delay: float = 0.1):
        super().__init__()
        self.delay = delay
        self.serve()

    def handle(self, conn: socket.socket) -> None:
        body = b"<Response><Say>This arrives far too slowly to be heard.</Say></Response>"
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body))
                for i in range(len(body)):
                    if self.stopping.is_set():
                        return
                    conn.sendall(body[i:i + 1])
                    time.sleep(self.delay)
            except OSError:
                return


class HeaderTrickle(_RawServer):
    """Answers a status line at once, then one header byte per ``delay`` seconds, forever."""

    def __init__(self, delay: float = 0.1):
        super().__init__()
        self.delay = delay
        self.serve()

    def handle(self, conn):
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not self.stopping.is_set():
                    conn.sendall(b"X")
                    time.sleep(self.delay)
            except OSError:
                return


class SlowBody(_RawServer):
    """Headers at once, then a 1 MB audio body one small chunk per ``delay`` seconds."""

    def __init__(self, delay: float = 0.1):
        super().__init__()
        self.delay = delay
        self.serve()

    def handle(self, conn):
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: 1000000\r\n\r\n")
                while not self.stopping.is_set():
                    conn.sendall(b"\0" * 100)
                    time.sleep(self.delay)
            except OSError:
                return
