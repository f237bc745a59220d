"""Voice agents over WebSocket: Twilio Media Streams and ConversationRelay.

``media.MediaStream`` carries the call's audio both ways as Twilio's Media
Streams messages; ``relay.Relay`` runs ConversationRelay with the box's own
recognizer, voice activity detector and voice, so only text crosses the
network. Both talk to the call through the small ``port.Port`` interface.
"""
