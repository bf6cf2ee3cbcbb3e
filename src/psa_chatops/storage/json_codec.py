"""How JSON columns are written and read: orjson, with the standard library for what orjson refuses.

Event payloads, outbox envelopes and raw vendor alerts are JSON columns; encoding them was the largest share of an
alert batch's Python time after the statements themselves. orjson refuses integers beyond 64 bits (a vendor's raw
payload may carry one) and reads no ``NaN``: those go through ``json``, so nothing that was accepted before fails.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


ENGINE_OPTIONS: dict[str, Any] = {"json_serializer": dumps, "json_deserializer": loads}
