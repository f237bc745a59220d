"""A voicemail app written the way Twilio's users write them: Flask and the
twilio helper library's VoiceResponse, run for real on a local port.

    with VoicemailApp(record={"finish_on_key": "#"}) as app:
        app.url("/voice")         # the start document
        app.requests              # [(path, method, params)] in order
        app.downloads             # {RecordingSid: (status, content type, body)} fetched from RecordingUrl

``/voice`` greets, records with the ``record`` keyword arguments, and says
"no message" when the recording is empty (Twilio's fall-through).
``/handle-recording`` downloads the recording from RecordingUrl (with
``download_ext``), as a voicemail app that mails or stores it does, and plays
it back.
"""

from __future__ import annotations

import threading
import urllib.request

from flask import Flask, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.serving import make_server


class VoicemailApp:
    def __init__(self, record: dict | None = None, download_ext: str = ".wav", auth: tuple[str, str] | None = None):
        self.record = {"action": "/handle-recording", **(record or {})}
        self.download_ext = download_ext
        self.auth = auth
        self.requests: list[tuple[str, str, dict]] = []
        self.downloads: dict[str, tuple[int, str, bytes]] = {}
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()

    def of(self, path: str) -> list[dict]:
        return [params for p, _, params in self.requests if p == path]

    def _download(self, url: str) -> tuple[int, str, bytes]:
        req = urllib.request.Request(url)
        if self.auth:
            import base64

            token = base64.b64encode(":".join(self.auth).encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, "", b""

    def _build(self) -> Flask:
        app = Flask(__name__)

        @app.before_request
        def log():
            self.requests.append((request.path, request.method, request.values.to_dict()))

        @app.route("/voice", methods=["GET", "POST"])
        def voice():
            response = VoiceResponse()
            response.say("Please leave a message after the beep.")
            response.record(**self.record)
            response.say("We did not get a message. Goodbye.")
            return str(response)

        @app.route("/handle-recording", methods=["GET", "POST"])
        def handle_recording():
            sid, url = request.values["RecordingSid"], request.values["RecordingUrl"]
            self.downloads[sid] = self._download(url + self.download_ext)
            response = VoiceResponse()
            response.say("Thank you. Here is your message.")
            response.play(url)
            response.say("Goodbye.")
            return str(response)

        @app.route("/status", methods=["GET", "POST"])
        @app.route("/transcribed", methods=["GET", "POST"])
        def callbacks():
            return "", 204

        return app
