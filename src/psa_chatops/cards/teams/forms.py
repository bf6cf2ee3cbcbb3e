"""Forms: the "new ticket" card and the sub-cards behind the ticket card's buttons (status, note, escalation, close).

Inputs use the ids of ``ids`` (``ids.STATUS``, ``ids.NOTE_BODY``, ...), so the invoke handlers read ``action.data``
with the same constants. Each submit is an ``Action.Execute`` whose ``data`` names the ticket and the version the
card showed; prefilled ``value``s are raw text (inputs are not markdown).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from psa_chatops.cards.labels import status_label
from psa_chatops.cards.teams import ids
from psa_chatops.cards.teams.messages import (
    Card,
    Element,
    action_data,
    adaptive_card,
    execute_action,
    input_label,
    sub_card,
    text_block,
)
from psa_chatops.cards.teams.text import clip, escape, plain, translator
from psa_chatops.core.priorities import PRIORITY_LABELS, Priority
from psa_chatops.core.ticket_decisions import MAX_TITLE
from psa_chatops.core.tickets_state import ALLOWED_TRANSITIONS, Status
from psa_chatops.i18n import Translator

__all__ = [
    "CUSTOMER_DATASET",
    "MAX_CHOICES",
    "close_form",
    "escalate_form",
    "new_ticket_form",
    "note_form",
    "status_choices",
    "status_form",
]

CUSTOMER_DATASET: Final = "customers"  # Data.Query dataset: the bot answers application/search invokes for it
ASSET_DATASET: Final = "assets"
MAX_CHOICES: Final = 100  # static choices in one ChoiceSet (more make the card heavy; search covers the rest)
TEXT_INPUT: Final = 4_000  # maxLength hint of our multi-line inputs
CHOICE_TITLE: Final = 120


def choice(title: str, value: str) -> dict[str, str]:
    if not value:
        raise ValueError("a choice needs a value")
    return {"title": plain(title, CHOICE_TITLE) or value, "value": value}


def _text_input(
    input_id: str,
    label: str,
    *,
    value: str = "",
    multiline: bool = False,
    required: bool = False,
    error: str | None = None,
    placeholder: str | None = None,
    max_length: int = TEXT_INPUT,
) -> Element:
    element: Element = {
        "type": "Input.Text",
        "id": input_id,
        "label": input_label(label),
        "isMultiline": multiline,
        "maxLength": max_length,
    }
    if value:
        element["value"] = clip(value, max_length)
    if placeholder:
        element["placeholder"] = plain(placeholder, 200)
    if required:
        element["isRequired"] = True
        if error:
            element["errorMessage"] = plain(error, 200)
    return element


def _choice_set(
    input_id: str,
    label: str,
    choices: list[dict[str, str]],
    *,
    value: str | None = None,
    expanded: bool = False,
    required: bool = False,
    error: str | None = None,
    placeholder: str | None = None,
) -> Element:
    element: Element = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": input_label(label),
        "style": "expanded" if expanded else "compact",
        "choices": choices,
    }
    if value is not None:
        element["value"] = value
    if placeholder:
        element["placeholder"] = plain(placeholder, 200)
    if required:
        element["isRequired"] = True
        if error:
            element["errorMessage"] = plain(error, 200)
    return element


# --- the ticket card's sub-cards ----------------------------------------------------------------------------------


def status_choices(status: str, tr: Translator, *, include_closed: bool = False) -> list[dict[str, str]]:
    """The statuses a ticket may move to; "closed" stays with Close (it asks for a resolution) unless asked for."""
    try:
        targets = ALLOWED_TRANSITIONS[Status(status)]
    except ValueError:
        return []
    chosen = [s for s in Status if s in targets and (include_closed or s is not Status.CLOSED)]
    return [choice(status_label(s.value, tr.locale), s.value) for s in chosen]


def status_form(number: int, version: int, status: str, tr: Translator, *, include_closed: bool = False) -> Card | None:
    """Set status: a choice of the allowed statuses and Save; None when there is nothing to choose."""
    choices = status_choices(status, tr, include_closed=include_closed)
    if not choices:
        return None
    field = _choice_set(
        ids.STATUS,
        tr.t("New status"),
        choices,
        value=choices[0]["value"],
        required=True,
        error=tr.t("Choose a status."),
    )
    save = execute_action(tr.t("Save"), ids.SET_STATUS, action_data(number, version), style="positive")
    return sub_card([field], [save])


def note_form(number: int, version: int, tr: Translator, *, visibility: str = "internal") -> Card:
    """Add a note: the text, and whether it is an internal note or a reply the customer sees."""
    body = _text_input(ids.NOTE_BODY, tr.t("Note"), multiline=True, required=True, error=tr.t("Write the note first."))
    kinds = [choice(tr.t("Internal note"), "internal"), choice(tr.t("Reply to the customer"), "public")]
    chosen = "public" if visibility == "public" else "internal"
    kind = _choice_set(ids.NOTE_VISIBILITY, tr.t("Visibility"), kinds, value=chosen, expanded=True, required=True)
    add = execute_action(tr.t("Add note"), ids.ADD_NOTE, action_data(number, version), style="positive")
    return sub_card([body, kind], [add])


def escalate_form(number: int, version: int, tr: Translator) -> Card:
    """Escalate: why (required); the card says what happens, as Slack's confirm dialog does."""
    warning = text_block(escape(tr.t("The priority goes up one step and the dispatchers are paged.")), color="Warning")
    reason = _text_input(
        ids.ESCALATION_REASON,
        tr.t("Reason"),
        multiline=True,
        required=True,
        error=tr.t("Say why the ticket is escalated."),
        max_length=1_000,
    )
    go = execute_action(tr.t("Escalate"), ids.ESCALATE, action_data(number, version), style="destructive")
    return sub_card([warning, reason], [go])


def close_form(number: int, version: int, tr: Translator, *, resolution: str = "") -> Card:
    """Close with a resolution; the sub-card is the confirmation (closing cannot be undone)."""
    warning = text_block(escape(tr.t("A closed ticket cannot be reopened.")), color="Warning")
    field = _text_input(
        ids.RESOLUTION,
        tr.t("Resolution"),
        value=resolution,
        multiline=True,
        required=True,
        error=tr.t("What was done; the customer may read it."),
        placeholder=tr.t("What was done; the customer may read it."),
    )
    close = execute_action(tr.t("Close ticket"), ids.CLOSE, action_data(number, version), style="destructive")
    return sub_card([warning, field], [close])


# --- new ticket ----------------------------------------------------------------------------------------------------


def new_ticket_form(
    locale: str,
    *,
    title: str = "",
    description: str = "",
    customers: Iterable[tuple[str, str]] = (),
    customer: str | None = None,
    assets: Iterable[tuple[str, str]] = (),
    priority: str = Priority.MEDIUM.value,
    typeahead: bool = True,
    data: dict[str, Any] | None = None,
) -> Card:
    """The "new ticket" card: title, description, customer, priority, asset; submit verb ``ids.NEW_TICKET``.

    ``customers``/``assets`` are (id, name) pairs shown as static choices (at most ``MAX_CHOICES``); with
    ``typeahead`` the customer choice also asks the bot as the user types (``choices.data``, a ``Data.Query`` on
    the dataset ``customers``: the bot answers the ``application/search`` invoke). Clients without typeahead show the
    static choices. ``customer`` preselects one; ``data`` is carried back with the submit (e.g. the conversation).
    """
    tr = translator(locale)
    customer_choices = [choice(name or cid, cid) for cid, name in list(customers)[:MAX_CHOICES]]
    if customer and customer not in {c["value"] for c in customer_choices}:
        customer_choices.insert(0, choice(customer, customer))
    customer_input = _choice_set(
        ids.CUSTOMER,
        tr.t("Customer"),
        customer_choices,
        value=customer,
        required=True,
        error=tr.t("Choose a customer."),
        placeholder=tr.t("Search customers"),
    )
    if typeahead:
        customer_input["choices.data"] = {"type": "Data.Query", "dataset": CUSTOMER_DATASET}
    priorities = [choice(tr.t(PRIORITY_LABELS[p]), p.value) for p in Priority]
    chosen_priority = priority if priority in {p.value for p in Priority} else Priority.MEDIUM.value
    asset_choices = [choice(name or aid, aid) for aid, name in list(assets)[:MAX_CHOICES]]
    body: list[Element] = [
        text_block(escape(tr.t("New ticket")), size="Large", weight="Bolder"),
        _text_input(
            ids.TITLE,
            tr.t("Title"),
            value=title,
            required=True,
            error=tr.t("Give the ticket a title."),
            max_length=MAX_TITLE,
        ),
        _text_input(ids.DESCRIPTION, tr.t("Description"), value=description, multiline=True),
        customer_input,
        _choice_set(ids.PRIORITY, tr.t("Priority"), priorities, value=chosen_priority, required=True),
    ]
    if asset_choices:
        body.append(_choice_set(ids.ASSET, tr.t("Asset"), asset_choices, placeholder=tr.t("None")))
    else:
        body.append(
            _text_input(ids.ASSET, tr.t("Asset"), placeholder=tr.t("The asset's id (optional)"), max_length=200)
        )
    create = execute_action(tr.t("Create"), ids.NEW_TICKET, dict(data or {}), style="positive")
    return adaptive_card(body, [create], locale=tr.locale, fallback_text=tr.t("New ticket"))
