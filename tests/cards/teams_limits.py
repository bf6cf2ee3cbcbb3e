"""Checks every Adaptive Card our Teams renderers emit, for reuse by any test that sends one.

``assert_valid_card(card, limit=...)`` validates ``card`` against the official Adaptive Card 1.5 JSON schema of the
shared corpus (``../shared/corpora/adaptive_cards/schema-1.5.0-adaptive-card.json``, draft-06, with ``jsonschema``)
and checks its serialised size (bytes of ``json.dumps``, non-ASCII escaped: the conservative count) against
``limit``. It accepts a Workflows message wrapper (``{"type": "message", "attachments": [...]}``) too: then the
whole wrapper is measured and every attached card validated.

One documented allowance: Teams' typeahead key ``"choices.data"`` on an ``Input.ChoiceSet`` (Teams supports it in
1.5 cards, the 1.5 schema does not list it) is checked against the 1.6 schema's ``Data.Query`` and then removed
before the 1.5 validation. Nothing else is tolerated. Skips with the reason when the corpus is absent.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from typing import Any

import pytest

from psa_chatops.cards.teams import ids
from tests.conftest import SHARED_CORPORA

SCHEMA_15 = SHARED_CORPORA / "adaptive_cards" / "schema-1.5.0-adaptive-card.json"
SCHEMA_16 = SHARED_CORPORA / "adaptive_cards" / "schema-1.6.0-adaptive-card.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


@functools.cache
def _load(path: str) -> dict[str, Any] | None:
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        return None
    return dict(json.loads(file.read_text(encoding="utf-8")))


def _schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    card_schema, newer = _load(str(SCHEMA_15)), _load(str(SCHEMA_16))
    if card_schema is None or newer is None:
        pytest.skip(f"the Adaptive Card schemas are not there ({SCHEMA_15.parent}); the shared corpus is absent")
    return card_schema, newer


def card_size(payload: Mapping[str, Any]) -> int:
    return len(json.dumps(payload).encode("ascii"))


def assert_valid_card(card: Mapping[str, Any], *, limit: int = ids.BOT_CARD_LIMIT) -> dict[str, Any]:
    """Fail with every schema error and a size over ``limit``; returns the card (or wrapper) as a dict."""
    import jsonschema

    data = dict(card)
    size = card_size(data)
    assert size <= limit, f"the payload has {size} bytes; the limit is {limit}"
    if data.get("type") == "message":
        attachments = data.get("attachments")
        assert isinstance(attachments, list), "a message wrapper needs attachments"
        assert attachments, "a message wrapper needs attachments"
        for item in attachments:
            assert item.get("contentType") == CARD_CONTENT_TYPE, item.get("contentType")
            assert_valid_card(item["content"], limit=limit)
        return data
    schema, newer = _schemas()
    assert data.get("type") == "AdaptiveCard", "a top-level Adaptive Card"
    assert data.get("version") == "1.5", "a 1.5 card"
    stripped = copy.deepcopy(data)
    problems = list(_typeahead_problems(stripped, newer))
    validator = jsonschema.Draft6Validator(schema)
    errors = sorted(validator.iter_errors(stripped), key=lambda e: list(e.absolute_path))
    problems += [f"{'/'.join(map(str, e.absolute_path))}: {_best(e)}" for e in errors]
    assert not problems, "Adaptive Card 1.5 schema:\n  " + "\n  ".join(problems)
    return data


def _best(error: Any) -> str:
    import jsonschema

    deepest = jsonschema.exceptions.best_match([error, *error.context]) if error.context else error
    return f"{deepest.message[:300]} (at {'/'.join(map(str, deepest.absolute_path))})"


def _typeahead_problems(node: Any, newer: dict[str, Any]) -> list[str]:
    """Check and remove ``choices.data`` (Teams' typeahead) from every ``Input.ChoiceSet``."""
    import jsonschema

    problems: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "Input.ChoiceSet" and "choices.data" in node:
            query = node.pop("choices.data")
            root = {"definitions": newer["definitions"], "$ref": "#/definitions/Data.Query"}
            problems += [f"choices.data: {e.message}" for e in jsonschema.Draft6Validator(root).iter_errors(query)]
        for value in node.values():
            problems += _typeahead_problems(value, newer)
    elif isinstance(node, list):
        for value in node:
            problems += _typeahead_problems(value, newer)
    return problems


# --- helpers for assertions ---------------------------------------------------------------------------------------


def walk(node: Any) -> list[dict[str, Any]]:
    """Every dict in the payload, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


def markdown_texts(card: Mapping[str, Any]) -> list[str]:
    """What Teams parses as markdown: TextBlock texts and fact titles/values."""
    texts: list[str] = []
    for node in walk(card):
        if node.get("type") == "TextBlock":
            texts.append(node["text"])
        if node.get("type") == "FactSet":
            texts += [part for fact in node["facts"] for part in (fact["title"], fact["value"])]
    return texts


def actions_of(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every action object (top level, in show cards, fallbacks), without the refresh action."""
    kinds = {"Action.Execute", "Action.Submit", "Action.OpenUrl", "Action.ShowCard"}
    refresh = card.get("refresh", {}).get("action")
    return [n for n in walk(card) if n.get("type") in kinds and n is not refresh]


def verbs_of(card: Mapping[str, Any]) -> set[str]:
    refresh = card.get("refresh", {}).get("action")
    return {n["verb"] for n in walk(card) if n.get("type") == "Action.Execute" and n is not refresh}
