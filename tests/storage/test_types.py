"""``UtcDateTime`` on SQLite writes exactly the text SQLAlchemy's own DATETIME would, from any aware value; JSON
columns round-trip what the standard library would also accept; outbox idempotency keys are plain uuid5s."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from psa_chatops.storage import json_codec
from psa_chatops.storage.outbox import idempotency_key
from psa_chatops.storage.types import UtcDateTime

SQLITE = sqlite.dialect()
NAMESPACE = uuid.UUID("1d8f3c3e-6a59-4c1e-9d0c-7f1b8f5a2b10")  # the outbox's, as deployed: keys must not change
OURS = UtcDateTime().bind_processor(SQLITE)
THEIRS = DateTime(timezone=True).dialect_impl(SQLITE).bind_processor(SQLITE)
ZONES = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


NAIVE_RANGE = {"min_value": datetime(2, 1, 1), "max_value": datetime(9998, 12, 31)}  # noqa: DTZ001 - hypothesis wants naive bounds


@given(st.datetimes(**NAIVE_RANGE, timezones=ZONES))
def test_sqlite_text_is_sqlalchemys_own_format(moment: datetime) -> None:
    assert OURS is not None
    assert THEIRS is not None
    assert OURS(moment) == THEIRS(moment.astimezone(UTC).replace(tzinfo=None))


def test_naive_values_and_none() -> None:
    assert OURS is not None
    assert OURS(None) is None
    with pytest.raises(ValueError, match="naive"):
        OURS(datetime(2026, 1, 1))  # noqa: DTZ001 - the naive value under test


def test_postgresql_keeps_the_aware_value() -> None:
    processor = UtcDateTime().bind_processor(postgresql.dialect())
    moment = datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=1)))
    value = processor(moment) if processor else UtcDateTime().process_bind_param(moment, postgresql.dialect())
    assert value == datetime(2026, 1, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        {"title": "Drucker im 2. Stock: Größe", "n": 1, "tags": ["a", "b"], "nested": {"x": None, "y": 1.5}},
        {"id": 2**70},  # beyond 64 bits: orjson refuses, the standard library writes it
        [],
    ],
)
def test_json_columns_round_trip(value: object) -> None:
    assert json_codec.loads(json_codec.dumps(value)) == value


def test_json_reads_what_the_standard_library_wrote() -> None:
    assert math.isnan(json_codec.loads('{"a": NaN}')["a"])  # json.dumps writes NaN; orjson alone cannot read it


@given(st.text(max_size=60), st.text(max_size=60))
def test_idempotency_keys_are_the_uuid5_of_event_and_destination(event_id: str, destination: str) -> None:
    assert idempotency_key(event_id, destination) == str(uuid.uuid5(NAMESPACE, f"{event_id}|{destination}"))
