"""The box's ears: DTMF, voice activity and speech detectors over 20 ms frames."""


def speech_models(config: dict, wait: bool = False):
    """Start loading the configured speech models in the background, with the
    ``[speech] engine``; None when none are configured.

    A simulation waits for them (``wait=True``) so that it does not race
    model loading; the daemon answers calls meanwhile.
    """
    paths = config.get("speech.models") or {}
    if not paths:
        return None
    from .engine import engine_named
    from .models import SpeechModels

    models = SpeechModels(paths, engine_named(config["speech"]["engine"]))
    models.start()
    if wait:
        models.wait()
    return models
