"""Fixtures for the runtime tests: the breakers' hand-moved clock (the sink lives in ``tests/conftest.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest


@dataclass
class Monotonic:
    """The breakers' clock, moved by hand."""

    value: float = 1000.0

    def __call__(self) -> float:
        return self.value

    def advance(self, delta: timedelta) -> None:
        self.value += delta.total_seconds()


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()
