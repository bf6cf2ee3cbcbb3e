"""What every vendor normaliser shares: the precise error, pydantic validation that reports a JSON pointer, and the
helpers that turn vendor values (severity words, ids that are sometimes numbers) into ours.

Vendor models ignore fields they do not name (vendor payloads are large and grow), but every field they do name is
checked, and the first problem is reported as ``AlertPayloadError(pointer, message)``; the REST layer translates
the message and answers 422, never 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from psa_chatops.core.alerts import AlertSeverity

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class AlertPayloadError(Exception):
    """A vendor payload we cannot normalise; ``pointer`` is the RFC 6901 JSON pointer of the offending field
    (``""`` for the whole document), ``message`` says what is wrong with it, in English."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer = pointer
        self.message = message


class VendorModel(BaseModel):
    """Vendor JSON is camelCase; our fields are snake_case. Unknown fields are ignored, named ones are checked."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", str_strip_whitespace=True, frozen=True
    )


def escape(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def pointer(*parts: str | int) -> str:
    return "".join(f"/{escape(p)}" for p in parts)


def validate(model: type[M], data: object, at: str) -> M:
    """``model`` from ``data``, or ``AlertPayloadError`` naming the first offending field below ``at``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = at + pointer(*first["loc"])
        raise AlertPayloadError(where, _message(first)) from None


def _message(error: Any) -> str:
    if error["type"] == "missing":
        return "required field is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def each(items: object, at: str, one: Callable[[object, str], T]) -> list[T]:
    """``one(item, pointer)`` for every element of a JSON array found at ``at``."""
    if not isinstance(items, list):
        raise AlertPayloadError(at, "expected an array of alerts")
    return [one(item, f"{at}/{index}") for index, item in enumerate(items)]


def require_object(payload: object, at: str, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, dict):
        raise AlertPayloadError(at, f"expected a JSON object ({what})")
    return payload


def id_text(value: object) -> str:
    """Vendor ids arrive as strings or numbers (RocketCyber, MDE incident ids); we keep them as text."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("expected a string or an integer id")
    text = str(value).strip()
    if not text:
        raise ValueError("the id is empty")
    if len(text) > 200:
        raise ValueError("the id is longer than 200 characters")
    return text


_SEVERITY_WORDS: Mapping[str, AlertSeverity] = {
    "critical": AlertSeverity.CRITICAL,
    "high": AlertSeverity.HIGH,
    "medium": AlertSeverity.MEDIUM,
    "moderate": AlertSeverity.MEDIUM,
    "low": AlertSeverity.LOW,
    "info": AlertSeverity.INFORMATIONAL,
    "informational": AlertSeverity.INFORMATIONAL,
}


def severity_word(value: object, *, extra: Mapping[str, AlertSeverity] | None = None) -> AlertSeverity:
    """A vendor's severity word in any case (``HIGH``, ``High``, ``high``), or ``ValueError`` listing the words."""
    words = {**_SEVERITY_WORDS, **(extra or {})}
    if not isinstance(value, str) or value.strip().lower() not in words:
        raise ValueError(f"expected one of {', '.join(sorted(words))} (any case)")
    return words[value.strip().lower()]


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def threat_slug(value: str | None, default: str) -> str:
    """``DefenseEvasion`` -> ``defense_evasion``, ``Trojan`` -> ``trojan``, ``Brute Force`` -> ``brute_force``."""
    if not value:
        return default
    slug = _NOT_SLUG.sub("_", _CAMEL_BOUNDARY.sub("_", value.strip()).lower()).strip("_")
    return slug[:64] or default


def first(values: Sequence[T | None]) -> T | None:
    return next((v for v in values if v is not None and v != ""), None)
