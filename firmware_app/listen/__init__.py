"""The box's ears: DTMF, voice activity and speech detectors over 20 ms frames."""


def speech_models(config: dict, wait: bool = False):
    """Start loading the configured speech models in the background; None when none are configured.

    A simulation waits for them (``wait=True``) so that it does not race
    model loading; the daemon answers calls meanwhile.
    """
    paths = config.get("speech.models") or {}
    if not paths:
        return None
    from .speech import SpeechModels

    models = SpeechModels(paths)
    models.start()
    if wait:
        models.wait()
    return models
