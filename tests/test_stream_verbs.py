"""Parsing <Connect>, <Start>, <Stop>, <Stream>, <Parameter>, <ConversationRelay> and <Language>."""

from firmware_app.stream.port import VoiceQueue
from firmware_app.twiml.parse import parse
from firmware_app.twiml.verbs.connect import Connect
from firmware_app.twiml.verbs.conversation_relay import ConversationRelay
from firmware_app.twiml.verbs.start import Start
from firmware_app.twiml.verbs.stop import Stop


def test_connect_stream_with_parameters_and_status_callback():
    doc = parse('<Response><Connect action="after" method="GET"><Stream url="wss://agent.example/media" '
                'name="bot" statusCallback="status" statusCallbackMethod="GET">'
                '<Parameter name="a" value="1"/><Parameter name="b" value="2"/></Stream></Connect></Response>',
                "https://box.example/ivr/start")
    (connect,) = doc.verbs
    assert isinstance(connect, Connect) and connect.action == "https://box.example/ivr/after"
    assert connect.method == "GET" and doc.warnings == []
    spec = connect.children[0].spec(bidirectional=True)
    assert (spec.url, spec.name, spec.bidirectional, spec.track) == ("wss://agent.example/media", "bot", True,
                                                                     "inbound_track")
    assert spec.parameters == {"a": "1", "b": "2"}
    assert (spec.status_callback, spec.status_callback_method) == ("https://box.example/ivr/status", "GET")


def test_start_and_stop_stream():
    doc = parse('<Response><Start><Stream url="ws://10.0.0.5:8080/fork" name="f" track="both_tracks"/></Start>'
                '<Stop><Stream name="f"/></Stop></Response>', "http://box/ivr")
    start, stop = doc.verbs
    assert isinstance(start, Start) and start.children[0].spec().track == "both_tracks"
    assert isinstance(stop, Stop) and stop.children[0].name == "f"


def test_bad_streams_are_warned_about_and_skipped():
    doc = parse('<Response><Connect><Stream url="https://not-a-socket/x"/></Connect>'
                '<Start><Stream url="ws://h/x" track="sideways"/></Start><Stop><Stream/></Stop>'
                '<Connect><Stream url="ws://h/a"/><Stream url="ws://h/b"/></Connect>'
                '<Stream url="ws://h/top"/></Response>', "http://box/ivr")
    messages = [str(w) for w in doc.warnings]
    assert "<Stream url='https://not-a-socket/x'> must be a ws:// or wss:// URL; using ''" in messages
    assert "<Connect><Stream> needs a ws:// or wss:// url; skipped" in messages
    assert any("track='sideways'" in m for m in messages)
    assert "<Stop> needs exactly one <Stream name=...>; skipped" in messages
    assert "<Connect> needs exactly one <Stream> or <ConversationRelay>, found 2; skipped" in messages
    assert "<Stream> is not supported in <Response>; skipped" in messages
    assert [type(v) for v in doc.verbs] == [Start]


def test_conversation_relay_attributes_and_children():
    doc = parse('<Response><Connect action="/handoff"><ConversationRelay url="wss://ai.example/relay" '
                'welcomeGreeting="Hi!" welcomeGreetingInterruptible="dtmf" language="ko-KR" ttsLanguage="en-US" '
                'interruptible="false" dtmfDetection="true" hints="예약, 네">'
                '<Language code="en-US" voice="woman"/><Parameter name="who" value="kiosk"/>'
                '</ConversationRelay></Connect></Response>', "http://box/ivr")
    assert doc.warnings == []
    relay = doc.verbs[0].children[0]
    assert isinstance(relay, ConversationRelay)
    spec = relay.spec()
    assert (spec.welcome_greeting, spec.welcome_greeting_interruptible, spec.interruptible) == ("Hi!", "dtmf", "none")
    assert (spec.language, spec.tts_language, spec.transcription_language) == ("ko-KR", "en-US", "")
    assert spec.voice == "woman" and spec.dtmf_detection and spec.hints == ["예약", "네"]
    assert spec.parameters == {"who": "kiosk"}


def queued(queue: VoiceQueue, *items) -> VoiceQueue:
    """QUEUE with ITEMS added in order: bytes are audio, strings marks."""
    for item in items:
        queue.push(item) if isinstance(item, bytes) else queue.mark(item)
    return queue


def test_voice_queue_marks_wait_for_audio_and_clear_releases_them():
    queue = queued(VoiceQueue(), bytes(640), "two-frames", bytes(320), "three-frames")
    assert queue.next_frame() is not None and queue.take_marks() == []
    assert queue.next_frame() is not None and queue.take_marks() == ["two-frames"]
    assert queue.clear() == ["three-frames"] and queue.next_frame() is None
    queue.mark("nothing-before-it")
    assert queue.take_marks() == ["nothing-before-it"]


def test_voice_queue_marks_wait_for_the_audio_the_line_still_holds():
    """A line holding 60 ms ahead of each frame: a frame is heard three ticks after it is handed out."""
    queue = queued(VoiceQueue(), bytes(640), "a", bytes(320), "b")
    seen = []
    for _ in range(7):
        queue.next_frame(lag=0.06)
        seen.append((queue.take_marks(), queue.heard_ms))
    assert seen == [([], 0), ([], 0), ([], 0), ([], 20), (["a"], 40), (["b"], 60), ([], 60)]
    queued(queue, bytes(640), "c", bytes(640), "d")
    for _ in range(3):
        queue.next_frame(lag=0.06)
    assert queue.clear() == ["c", "d"] and queue.cut  # in order, and the line drops what it holds
    assert queue.take_marks() == [] and queue.heard_ms == queue.played_ms
