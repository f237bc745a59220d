"""The DTMF test corpus: Q.24 limit cases, talk-off speech and talk-down.

Every case is 8 kHz mono int16 audio with the digits a Q.24 receiver must
report (``""`` where it must stay silent). Tone onsets are jittered so that
keys land at every alignment against the 20 ms frames.

    >>> from bench.dtmf_corpus import limit_cases
    >>> for case in limit_cases():            # doctest: +SKIP
    ...     print(case.name, case.expect)
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import miniaudio
import numpy as np

from drivers.constants import DTMF_KEYS, RATE
from firmware_app.listen.tones import dbm0_to_peak, key_freqs, power_dbm0, to_int16

SPEECH_DBM0 = -15.0  # active speech level used for talk-off and talk-down


@dataclass
class Case:
    """One corpus file: ``expect`` is what a correct receiver reports."""

    name: str
    audio: np.ndarray
    expect: str
    group: str = "limit"


def _silence(ms: float) -> np.ndarray:
    return np.zeros(int(round(ms * RATE / 1000)))


def _tone(key: str, ms: float, low_dbm0: float, twist_db: float, dev_low: float, dev_high: float, phase: float):
    low, high = key_freqs(key)
    t = np.arange(int(round(ms * RATE / 1000))) / RATE
    return dbm0_to_peak(low_dbm0) * np.sin(2 * np.pi * low * (1 + dev_low) * t + phase) + dbm0_to_peak(
        low_dbm0 + twist_db
    ) * np.sin(2 * np.pi * high * (1 + dev_high) * t + 2.3 * phase)


def key_train(
    keys: str,
    on_ms: float = 100,
    off_ms: float = 100,
    low_dbm0: float = -8.0,
    twist_db: float = 2.0,
    dev_low: float = 0.0,
    dev_high: float = 0.0,
    break_ms: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Float samples of ``keys``, each after ``off_ms`` plus 0-20 ms of jitter.

    ``break_ms`` zeroes that much of the middle of every tone (an interruption
    with the tone's phase running on underneath).
    """
    rng = np.random.default_rng(seed)
    parts = [_silence(100)]
    for key in keys:
        parts.append(_silence(off_ms + rng.uniform(0, 20)))
        tone = _tone(key, on_ms + break_ms, low_dbm0, twist_db, dev_low, dev_high, rng.uniform(0, 2 * np.pi))
        if break_ms:
            start = int(round(on_ms / 2 * RATE / 1000))
            tone[start : start + int(round(break_ms * RATE / 1000))] = 0
        parts.append(tone)
    parts.append(_silence(200))
    return np.concatenate(parts)


def limit_cases() -> list[Case]:
    """One case per Q.24 limit in the issue, all 16 keys in each."""
    k = DTMF_KEYS
    rng = np.random.default_rng(7)
    cases = [
        ("nominal (Q.23 levels)", key_train(k + k), k + k),
        ("frequency +1.5%", key_train(k, dev_low=0.015, dev_high=0.015), k),
        ("frequency -1.5%", key_train(k, dev_low=-0.015, dev_high=-0.015), k),
        ("frequency +3.5%", key_train(k, dev_low=0.035, dev_high=0.035), ""),
        ("frequency -3.5%", key_train(k, dev_low=-0.035, dev_high=-0.035), ""),
        ("low tone +3.5%", key_train(k, dev_low=0.035), ""),
        ("low tone -3.5%", key_train(k, dev_low=-0.035), ""),
        ("high tone +3.5%", key_train(k, dev_high=0.035), ""),
        ("high tone -3.5%", key_train(k, dev_high=-0.035), ""),
        ("tone 40 ms, pause 40 ms", key_train(k, on_ms=40, off_ms=40), k),
        ("same key, 40 ms tones and pauses", key_train("5555####", on_ms=40, off_ms=40), "5555####"),
        ("tone 23 ms", key_train(k, on_ms=23), ""),
        ("tone 20 ms", key_train(k, on_ms=20), ""),
        ("interruption 10 ms", key_train(k, break_ms=10), k),
        ("interruption 8 ms", key_train(k, break_ms=8), k),
        ("twist +4 dB (high above low)", key_train(k, low_dbm0=-10, twist_db=4), k),
        ("twist -8 dB (high below low)", key_train(k, low_dbm0=-6, twist_db=-8), k),
        ("level 0 dBm0 per tone", key_train(k, low_dbm0=0, twist_db=0), k),
        ("level -25 dBm0 per tone", key_train(k, low_dbm0=-25, twist_db=0), k),
        ("level -55 dBm0 per tone", key_train(k, low_dbm0=-55, twist_db=0), ""),
    ]
    noisy = key_train(k)
    tone_power = np.mean(noisy[noisy != 0] ** 2)
    noisy = noisy + rng.normal(0, np.sqrt(tone_power / 100), len(noisy))
    cases.append(("white noise, 20 dB SNR", noisy, k))
    cases.append(("dial tone (350+440 Hz, -13 dBm0) under", _dial_tone_under(key_train(k)), k))
    quiet = key_train(k, low_dbm0=-18, twist_db=0)
    cases.append(("-18 dBm0 tones, -13 dBm0 dial tone under", _dial_tone_under(quiet), k))
    return [Case(name, to_int16(audio), expect) for name, audio, expect in cases]


def _dial_tone_under(audio: np.ndarray, dbm0: float = -13.0) -> np.ndarray:
    """``audio`` with continuous dial tone (350 + 440 Hz, ``dbm0`` per tone) added."""
    t = np.arange(len(audio)) / RATE
    return audio + dbm0_to_peak(dbm0) * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t))


# Talk-off speech: espeak-ng voices x languages x speeds x pitches.
TEXTS = {
    "en-us": "Thank you for calling. Please listen carefully, as our menu options have changed. "
    "For billing, press one. To speak with an operator, stay on the line. Your call is important to us.",
    "en-gb": "The weather tomorrow will be mostly cloudy, with outbreaks of rain spreading from the west "
    "by the afternoon. Temperatures around fourteen degrees, falling to nine overnight.",
    "de": "Vielen Dank für Ihren Anruf. Unsere Geschäftszeiten sind Montag bis Freitag von acht bis "
    "achtzehn Uhr. Bitte hinterlassen Sie eine Nachricht nach dem Signalton.",
    "fr-fr": "Bonjour et bienvenue. Toutes nos lignes sont actuellement occupées. Veuillez patienter, "
    "un conseiller va prendre votre appel dans quelques instants.",
    "es": "Gracias por llamar. Si conoce la extensión de la persona con quien desea hablar, marque ahora. "
    "Para servicio al cliente, permanezca en la línea.",
    "it": "Benvenuti. Il servizio clienti è disponibile dal lunedì al venerdì. Per informazioni sugli "
    "ordini, restate in linea e un operatore vi risponderà al più presto.",
    "pt-br": "Olá, obrigado por ligar. Sua ligação pode ser gravada para fins de qualidade. "
    "Aguarde na linha que em breve você será atendido.",
    "nl": "Goedemiddag, u spreekt met de klantenservice. Wij zijn op dit moment gesloten. "
    "Belt u morgen gerust terug tussen negen en vijf uur.",
    "ru": "Здравствуйте. Вы позвонили в службу поддержки. Пожалуйста, оставайтесь на линии, "
    "оператор ответит вам в ближайшее время.",
    "cmn": "您好，欢迎致电客户服务中心。我们的工作时间是周一至周五，上午九点到下午六点。请稍候。",
    "ja": "お電話ありがとうございます。ただいま電話が大変混み合っております。しばらくお待ちください。",
    "ko": "안녕하세요. 고객 센터에 전화해 주셔서 감사합니다. 잠시만 기다려 주시면 상담원이 연결됩니다.",
    "hi": "नमस्ते, हमें कॉल करने के लिए धन्यवाद। कृपया लाइन पर बने रहें, हमारा प्रतिनिधि जल्द ही आपसे बात करेगा।",
    "ar": "مرحبا بكم. شكرا لاتصالكم بخدمة العملاء. يرجى الانتظار، سيتم الرد على مكالمتكم قريبا.",
    "sv": "Hej och välkommen. Alla våra handläggare är upptagna just nu. Vänligen vänta så kopplas du fram.",
    "pl": "Dzień dobry. Dziękujemy za telefon. Prosimy pozostać na linii, konsultant wkrótce odbierze.",
    "tr": "Merhaba, bizi aradığınız için teşekkür ederiz. Lütfen hatta kalın, temsilcimiz size bağlanacak.",
    "fi": "Hyvää päivää. Kiitos soitostasi. Kaikki asiakaspalvelijamme ovat varattuina, odota hetki.",
    "el": "Καλημέρα σας. Ευχαριστούμε για την κλήση σας. Παρακαλούμε περιμένετε στη γραμμή.",
    "vi": "Xin chào, cảm ơn quý khách đã gọi đến. Vui lòng giữ máy, nhân viên sẽ trả lời ngay.",
}
VARIANTS = ("", "f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "croak", "klatt", "klatt3")
SPEEDS = (130, 175, 230)
PITCHES = (20, 50, 85)


def voices(count: int | None = None) -> list[tuple[str, str, int, int]]:
    """(language, variant, words per minute, pitch) combinations, spread evenly."""
    combos = itertools.product(SPEEDS, PITCHES, VARIANTS)
    out = [(lang, variant, speed, pitch) for lang, (speed, pitch, variant) in zip(TEXTS, combos)]
    rest = list(itertools.product(TEXTS, VARIANTS, SPEEDS, PITCHES))
    rng = np.random.default_rng(3)
    order = rng.permutation(len(rest))
    seen = set(out)
    out += [rest[i] for i in order if rest[i] not in seen]
    return out[:count]


def speech(language: str, variant: str = "", speed: int = 175, pitch: int = 50) -> np.ndarray:
    """One espeak-ng utterance as 8 kHz int16 at ``SPEECH_DBM0`` active level."""
    voice = f"{language}+{variant}" if variant else language
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "speech.wav")
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", path, TEXTS[language]],
            check=True,
            capture_output=True,
        )
        # The corpus keeps miniaudio's own resampler, so its figures stay comparable across runs.
        x = np.frombuffer(miniaudio.decode_file(path, nchannels=1, sample_rate=RATE).samples, np.int16).astype(np.float64)
    active = x[np.abs(x) > 0.01 * np.abs(x).max()]
    gain = 10 ** ((SPEECH_DBM0 - power_dbm0(active)) / 20)
    return to_int16(x * gain)


def talkoff_cases(count: int | None = None) -> list[Case]:
    """Speech alone: every digit reported is a talk-off error."""
    return list(talkoff_stream(count))


def talkoff_stream(count: int | None = None, workers: int = 2, batch: int = 16):
    """``talkoff_cases`` as a generator, synthesising ``batch`` voices at a
    time on ``workers`` threads, so hours of speech never sit in memory."""
    chosen = voices(count)
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(chosen), batch):
            part = chosen[start : start + batch]
            for voice, audio in zip(part, pool.map(lambda v: speech(*v), part)):
                language, variant, speed, pitch = voice
                yield Case(f"{language}+{variant or 'default'} {speed} wpm p{pitch}", audio, "", "talk-off")


def talkdown_cases(count: int = 6) -> list[Case]:
    """Digits at Q.23 levels over continuous speech (speech about 7 dB down)."""
    cases = []
    for i, (language, variant, speed, pitch) in enumerate(voices(count)):
        talk = speech(language, variant, speed, pitch).astype(np.float64)
        keys = "".join(np.random.default_rng(i).choice(list(DTMF_KEYS), 8))
        tones = key_train(keys, on_ms=60, off_ms=250, seed=i)
        while len(talk) < len(tones):
            talk = np.concatenate([talk, talk])
        mix = talk[: len(tones)] + tones
        cases.append(Case(f"{language}+{variant or 'default'} + {keys}", to_int16(mix), keys, "talk-down"))
    return cases
