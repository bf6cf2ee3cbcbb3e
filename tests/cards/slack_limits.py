"""Checks every Slack payload our renderers emit, for reuse by any test that sends Block Kit.

Slack refuses a whole message or view when one field breaks a limit (``invalid_blocks``), so tests should check the
limits themselves instead of trusting a renderer: ``assert_within_slack_limits(payload)`` walks the payload and
checks Slack's documented limits (our own list, so it does not depend on what ``slack_sdk`` happens to validate),
then parses it with ``slack_sdk.models`` (``Block.parse``/``View``, ``validate_json``) and requires the round trip
to keep every key (a misspelt key is dropped by the models and ignored by Slack: a silent bug).
``assert_matches_block_kit_schema(payload)`` also validates against the community Block Kit JSON Schema in
``../shared/corpora/slack/schemas`` when that corpus is present (the test is skipped with the reason otherwise).

Payloads: a message (``{"text", "blocks"}`` or anything with ``as_dict()``), a view (``{"type": "modal"|"home"}``),
an unfurl (``{"blocks"}`` without text: pass ``surface="unfurl"``), an options response (``{"options"}``) or a
``response_action: errors`` ack.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block, Option
from slack_sdk.models.views import View

SHARED_CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
BLOCK_KIT_SCHEMA = SHARED_CORPORA / "slack" / "schemas" / "tightknit-slack-block-kit.schema.json"

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40_000
TEXT_OBJECT = 3_000
HEADER = 150
SECTION_FIELDS = 10
SECTION_FIELD = 2_000
CONTEXT_ELEMENTS = 10
ACTION_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2_000
URL = 3_000
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTIONS = 100
PLACEHOLDER = 150
LABEL = 2_000
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
MODAL_TEXT = 24
PRIVATE_METADATA = 3_000
INPUT_VALUE = 3_000
ID = 255
RADIO_OPTIONS = 10

Payload = Mapping[str, Any]


def as_payload(payload: Any) -> dict[str, Any]:
    """A rendered ``Message`` (``as_dict()``) or a plain dict, as the dict that goes to Slack."""
    return dict(payload.as_dict() if hasattr(payload, "as_dict") else payload)


def assert_within_slack_limits(payload: Any, *, surface: str | None = None) -> dict[str, Any]:
    """Fail with every limit ``payload`` breaks; returns the payload as a dict for further assertions.

    ``surface`` is guessed ("modal"/"home" from ``type``, "options", "errors", else "message"); pass "unfurl" for
    an unfurl, which needs no fallback text.
    """
    data = as_payload(payload)
    kind = surface or _surface(data)
    problems = list(_check_surface(data, kind))
    assert not problems, f"{kind} breaks Slack's limits:\n  " + "\n  ".join(problems)
    _parse_with_slack_sdk(data, kind)
    return data


def assert_matches_block_kit_schema(payload: Any, *, surface: str | None = None) -> None:
    """Validate against the Block Kit JSON Schema of the shared corpus (skips when the corpus is absent)."""
    import jsonschema

    schema = _schema()
    data = as_payload(payload)
    kind = surface or _surface(data)
    ref = {"modal": "#/$defs/modal_view", "home": "#/$defs/home_view"}.get(kind)
    target: Any = data if ref else data.get("blocks", [])
    root = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": ref} if ref else schema
    validator = jsonschema.Draft202012Validator(root)
    errors = sorted(validator.iter_errors(target), key=lambda e: list(e.absolute_path))
    messages = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors]
    assert not messages, "Block Kit schema:\n  " + "\n  ".join(messages)


@functools.cache
def _load_schema() -> dict[str, Any] | None:
    if not BLOCK_KIT_SCHEMA.is_file():
        return None
    return dict(json.loads(BLOCK_KIT_SCHEMA.read_text(encoding="utf-8")))


def _schema() -> dict[str, Any]:
    schema = _load_schema()
    if schema is None:
        pytest.skip(f"the Block Kit JSON Schema is not there ({BLOCK_KIT_SCHEMA}); the shared corpus is absent")
    return schema


# --- surfaces ----------------------------------------------------------------------------------------------------


def _surface(data: Payload) -> str:
    if data.get("type") in ("modal", "home"):
        return str(data["type"])
    if "options" in data and "blocks" not in data:
        return "options"
    if data.get("response_action") == "errors":
        return "errors"
    return "message"


def _check_surface(data: Payload, kind: str) -> Iterator[str]:
    if kind == "options":
        yield from _check_options(data.get("options", []), "options")
        return
    if kind == "errors":
        for block_id, message in data.get("errors", {}).items():
            yield from _length(block_id, ID, f"errors.{block_id} (block_id)")
            if not isinstance(message, str) or not message:
                yield f"errors.{block_id}: must be a non-empty string"
        return
    blocks = data.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        yield "blocks: must be a non-empty list"
        return
    limit = VIEW_BLOCKS if kind in ("modal", "home") else MESSAGE_BLOCKS
    if len(blocks) > limit:
        yield f"blocks: {len(blocks)} > {limit}"
    if kind == "message":
        yield from _check_fallback(data)
    if kind in ("modal", "home"):
        yield from _check_view(data, kind)
    yield from _check_ids(blocks)
    for i, block in enumerate(blocks):
        yield from _check_block(block, f"blocks[{i}]")


def _check_fallback(data: Payload) -> Iterator[str]:
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        yield "text: a message needs a fallback text"
    else:
        yield from _length(text, MESSAGE_TEXT, "text")


def _check_view(data: Payload, kind: str) -> Iterator[str]:
    if kind == "modal":
        for key in ("title", "submit", "close"):
            if key in data:
                yield from _text_object(data[key], f"{key}", MODAL_TEXT, plain_only=True)
        if "title" not in data:
            yield "title: a modal needs one"
        if any(b.get("type") == "input" for b in data["blocks"]) and "submit" not in data:
            yield "submit: a modal with inputs needs one"
    elif "submit" in data or "close" in data:
        yield "home: no submit or close"
    yield from _length(data.get("private_metadata", ""), PRIVATE_METADATA, "private_metadata")
    yield from _length(data.get("callback_id", ""), ID, "callback_id")


def _check_ids(blocks: list[Any]) -> Iterator[str]:
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    duplicates = {b for b in block_ids if block_ids.count(b) > 1}
    if duplicates:
        yield f"block_id not unique: {sorted(duplicates)}"
    action_ids = [e["action_id"] for b in blocks for e in _elements_of(b) if "action_id" in e]
    duplicates = {a for a in action_ids if action_ids.count(a) > 1}
    if duplicates:
        yield f"action_id not unique in the payload: {sorted(duplicates)}"


def _elements_of(block: Payload) -> list[Any]:
    if block.get("type") == "actions":
        return list(block.get("elements", []))
    return [e for e in (block.get("accessory"), block.get("element")) if e]


# --- blocks ------------------------------------------------------------------------------------------------------


def _check_block(block: Payload, where: str) -> Iterator[str]:
    kind = block.get("type")
    yield from _length(block.get("block_id", ""), ID, f"{where}.block_id")
    checker = _BLOCK_CHECKS.get(str(kind))
    if checker is None:
        yield f"{where}: unexpected block type {kind!r}"
        return
    yield from checker(block, where)


def _check_header(block: Payload, where: str) -> Iterator[str]:
    yield from _text_object(block.get("text"), f"{where}.text", HEADER, plain_only=True)


def _check_section(block: Payload, where: str) -> Iterator[str]:
    if "text" not in block and "fields" not in block:
        yield f"{where}: a section needs text or fields"
    if "text" in block:
        yield from _text_object(block["text"], f"{where}.text", TEXT_OBJECT)
    fields = block.get("fields", [])
    if len(fields) > SECTION_FIELDS:
        yield f"{where}.fields: {len(fields)} > {SECTION_FIELDS}"
    for i, field in enumerate(fields):
        yield from _text_object(field, f"{where}.fields[{i}]", SECTION_FIELD)
    if "accessory" in block:
        yield from _check_element(block["accessory"], f"{where}.accessory")


def _check_context(block: Payload, where: str) -> Iterator[str]:
    elements = block.get("elements", [])
    if not elements or len(elements) > CONTEXT_ELEMENTS:
        yield f"{where}.elements: {len(elements)} (1 to {CONTEXT_ELEMENTS})"
    for i, element in enumerate(elements):
        yield from _text_object(element, f"{where}.elements[{i}]", TEXT_OBJECT)


def _check_actions(block: Payload, where: str) -> Iterator[str]:
    elements = block.get("elements", [])
    if not elements or len(elements) > ACTION_ELEMENTS:
        yield f"{where}.elements: {len(elements)} (1 to {ACTION_ELEMENTS})"
    for i, element in enumerate(elements):
        yield from _check_element(element, f"{where}.elements[{i}]")


def _check_input(block: Payload, where: str) -> Iterator[str]:
    yield from _text_object(block.get("label"), f"{where}.label", LABEL, plain_only=True)
    if "hint" in block:
        yield from _text_object(block["hint"], f"{where}.hint", LABEL, plain_only=True)
    yield from _check_element(block.get("element") or {}, f"{where}.element")


def _check_divider(block: Payload, where: str) -> Iterator[str]:
    extra = set(block) - {"type", "block_id"}
    if extra:
        yield f"{where}: a divider has no {sorted(extra)}"


_BLOCK_CHECKS = {
    "header": _check_header,
    "section": _check_section,
    "context": _check_context,
    "actions": _check_actions,
    "input": _check_input,
    "divider": _check_divider,
}


# --- elements ----------------------------------------------------------------------------------------------------


def _check_element(element: Payload, where: str) -> Iterator[str]:
    yield from _length(element.get("action_id", ""), ID, f"{where}.action_id")
    if "placeholder" in element:
        yield from _text_object(element["placeholder"], f"{where}.placeholder", PLACEHOLDER, plain_only=True)
    if "confirm" in element:
        yield from _check_confirm(element["confirm"], f"{where}.confirm")
    kind = element.get("type")
    if kind == "button":
        yield from _check_button(element, where)
    elif kind in ("static_select", "external_select", "radio_buttons"):
        yield from _check_select(element, where)
    elif kind == "plain_text_input":
        yield from _check_text_input(element, where)
    elif kind != "users_select":
        yield f"{where}: unexpected element type {kind!r}"


def _check_button(element: Payload, where: str) -> Iterator[str]:
    yield from _text_object(element.get("text"), f"{where}.text", BUTTON_TEXT, plain_only=True)
    if "value" in element:
        yield from _length(element["value"], BUTTON_VALUE, f"{where}.value", minimum=1)
    if "url" in element:
        yield from _length(element["url"], URL, f"{where}.url", minimum=1)
        if not str(element["url"]).startswith(("https://", "http://")):
            yield f"{where}.url: not an http(s) URL"


def _check_select(element: Payload, where: str) -> Iterator[str]:
    options = element.get("options", [])
    limit = RADIO_OPTIONS if element.get("type") == "radio_buttons" else OPTIONS
    if len(options) > limit:
        yield f"{where}.options: {len(options)} > {limit}"
    if element.get("type") != "external_select" and not options:
        yield f"{where}.options: a {element.get('type')} needs options"
    yield from _check_options(options, f"{where}.options")
    if "initial_option" in element:
        initial = element["initial_option"]
        yield from _check_options([initial], f"{where}.initial_option")
        if options and initial not in options:
            yield f"{where}.initial_option: not one of the options"


def _check_options(options: list[Any], where: str) -> Iterator[str]:
    if len(options) > OPTIONS:
        yield f"{where}: {len(options)} > {OPTIONS}"
    for i, item in enumerate(options):
        yield from _text_object(item.get("text"), f"{where}[{i}].text", OPTION_TEXT)
        if "description" in item:
            yield from _text_object(item["description"], f"{where}[{i}].description", OPTION_TEXT)
        yield from _length(item.get("value", ""), OPTION_VALUE, f"{where}[{i}].value", minimum=1)


def _check_text_input(element: Payload, where: str) -> Iterator[str]:
    maximum = element.get("max_length", INPUT_VALUE)
    if not 1 <= maximum <= INPUT_VALUE:
        yield f"{where}.max_length: {maximum} (1 to {INPUT_VALUE})"
    if "initial_value" in element:
        yield from _length(element["initial_value"], min(maximum, INPUT_VALUE), f"{where}.initial_value")


def _check_confirm(confirm: Payload, where: str) -> Iterator[str]:
    yield from _text_object(confirm.get("title"), f"{where}.title", CONFIRM_TITLE, plain_only=True)
    yield from _text_object(confirm.get("text"), f"{where}.text", CONFIRM_TEXT)
    yield from _text_object(confirm.get("confirm"), f"{where}.confirm", CONFIRM_BUTTON, plain_only=True)
    yield from _text_object(confirm.get("deny"), f"{where}.deny", CONFIRM_BUTTON, plain_only=True)


# --- text --------------------------------------------------------------------------------------------------------


def _text_object(obj: Any, where: str, limit: int, *, plain_only: bool = False) -> Iterator[str]:
    if not isinstance(obj, Mapping):
        yield f"{where}: missing text object"
        return
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        yield f"{where}.type: {obj.get('type')!r} (expected {' or '.join(allowed)})"
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        yield f"{where}.text: empty"
        return
    yield from _length(text, min(limit, TEXT_OBJECT), f"{where}.text")


def _length(value: Any, limit: int, where: str, *, minimum: int = 0) -> Iterator[str]:
    if not isinstance(value, str):
        yield f"{where}: not a string ({type(value).__name__})"
    elif not minimum <= len(value) <= limit:
        yield f"{where}: {len(value)} characters (allowed {minimum} to {limit}): {value[:60]!r}..."


# --- slack_sdk ---------------------------------------------------------------------------------------------------


def _parse_with_slack_sdk(data: Payload, kind: str) -> None:
    if kind == "options":
        for item in data.get("options", []):
            parsed = Option(**item)
            parsed.validate_json()
            assert _without_none(parsed.to_dict()) == item
        return
    if kind == "errors":
        return
    if kind in ("modal", "home"):
        view = View(**data)
        view.validate_json()
        _assert_round_trip(view.to_dict(), dict(data), kind)
        return
    for i, block in enumerate(data["blocks"]):
        parsed_block = Block.parse(block)
        assert parsed_block is not None, f"blocks[{i}]: slack_sdk does not know {block.get('type')!r}"
        parsed_block.validate_json()
        _assert_round_trip(parsed_block.to_dict(), block, f"blocks[{i}]")


def _assert_round_trip(parsed: Any, original: Any, where: str) -> None:
    """slack_sdk keeps every attribute it knows; a key it drops is one Slack would not know either."""
    assert _without_none(parsed) == _without_none(original), f"{where}: slack_sdk's round trip changed the payload"


def _without_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value
