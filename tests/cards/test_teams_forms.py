"""Teams forms (``cards.teams.forms``): the new-ticket card and the ticket card's sub-cards."""

from __future__ import annotations

import pytest

from psa_chatops.cards.teams import ids
from psa_chatops.cards.teams.forms import (
    CUSTOMER_DATASET,
    MAX_CHOICES,
    close_form,
    escalate_form,
    new_ticket_form,
    note_form,
    status_form,
)
from psa_chatops.cards.teams.messages import adaptive_card
from psa_chatops.cards.teams.text import translator
from tests.cards.teams_limits import assert_valid_card, verbs_of, walk

LOCALES = ("en", "de")


def inputs(card: dict[str, object]) -> dict[str, dict[str, object]]:
    return {str(n["id"]): n for n in walk(card) if str(n.get("type", "")).startswith("Input.")}


@pytest.mark.parametrize("locale", LOCALES)
def test_new_ticket_form(locale: str) -> None:
    customers = [(f"CUST-{i}", f"Customer {i}") for i in range(150)]
    card = assert_valid_card(
        new_ticket_form(locale, title="<at>x</at>", customers=customers, customer="CUST-999", data={"conv": "c1"})
    )
    fields = inputs(card)
    assert set(fields) == {ids.TITLE, ids.DESCRIPTION, ids.CUSTOMER, ids.PRIORITY, ids.ASSET}
    customer = fields[ids.CUSTOMER]
    assert customer["choices.data"] == {"type": "Data.Query", "dataset": CUSTOMER_DATASET}
    assert customer["value"] == "CUST-999"
    assert len(customer["choices"]) == MAX_CHOICES + 1
    assert fields[ids.PRIORITY]["value"] == "medium"
    assert fields[ids.TITLE]["isRequired"] is True
    assert fields[ids.TITLE]["value"] == "<at>x</at>"  # inputs are raw text
    assert verbs_of(card) == {ids.NEW_TICKET}
    assert card["actions"][0]["data"] == {"conv": "c1"}
    assert card["actions"][0]["fallback"]["data"] == {"conv": "c1", "verb": ids.NEW_TICKET}


def test_new_ticket_form_without_typeahead_and_with_assets_is_strict_1_5() -> None:
    card = assert_valid_card(new_ticket_form("en", typeahead=False, assets=[("WS-1", "Workstation 1")]))
    assert "choices.data" not in inputs(card)[ids.CUSTOMER]
    assert inputs(card)[ids.ASSET]["type"] == "Input.ChoiceSet"


def test_typeahead_query_must_be_a_data_query() -> None:
    card = new_ticket_form("en")
    inputs(card)[ids.CUSTOMER]["choices.data"] = {"type": "Data.Query", "dataset": 5}
    with pytest.raises(AssertionError, match=r"choices\.data"):
        assert_valid_card(card)


@pytest.mark.parametrize("locale", LOCALES)
def test_sub_forms(locale: str) -> None:
    tr = translator(locale)
    forms = {
        ids.SET_STATUS: status_form(1, 2, "open", tr),
        ids.ADD_NOTE: note_form(1, 2, tr, visibility="public"),
        ids.ESCALATE: escalate_form(1, 2, tr),
        ids.CLOSE: close_form(1, 2, tr, resolution="done"),
    }
    for verb, form in forms.items():
        assert form is not None
        card = assert_valid_card(adaptive_card(form["body"], form["actions"], locale=locale, fallback_text="x"))
        assert verbs_of(card) == {verb}
        assert card["actions"][0]["data"] == {"number": 1, "version": 2}
    assert status_form(1, 2, "closed", tr) is None
    assert inputs(forms[ids.ADD_NOTE])[ids.NOTE_VISIBILITY]["value"] == "public"  # type: ignore[arg-type]
    assert inputs(forms[ids.CLOSE])[ids.RESOLUTION]["value"] == "done"  # type: ignore[arg-type]
