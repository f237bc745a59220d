"""A fake USB sound card on PulseAudio (bench/pulse.py) for the sound-line tests,
a caller on it, and gpiozero mock pins for its FXO board."""

import asyncio

import pytest
from gpiozero.pins.mock import MockFactory

from bench.pulse import Caller, fake_card, unique

CARD = unique("ivrtest_usb")


@pytest.fixture(scope="module")
def card():
    with fake_card(CARD) as c:
        yield c


@pytest.fixture
def caller(card):
    c = Caller(card)
    yield c
    c.stop()


@pytest.fixture
def pins():
    factory = MockFactory()
    yield factory
    factory.reset()


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))
