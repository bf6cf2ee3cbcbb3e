"""The mail tests read real mails from ``../shared/corpora/email/`` (never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_CORPORA

EMAIL_CORPUS = SHARED_CORPORA / "email"


@pytest.fixture
def corpus() -> Path:
    if not EMAIL_CORPUS.is_dir():
        pytest.skip(f"the shared e-mail corpus is not here ({EMAIL_CORPUS})")
    return EMAIL_CORPUS
