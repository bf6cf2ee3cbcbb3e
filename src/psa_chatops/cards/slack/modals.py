"""Modals: New ticket (also prefilled from a message), Add note, Close; their inline errors; external select options.

Inputs use the (block_id, action_id) pairs of ``ids`` so that the listeners read ``view.state.values`` with the
same constants. Prefilled ``initial_value``s are raw text (inputs are not text objects, so nothing is escaped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.messages import Block, context, option, plain, section
from psa_chatops.cards.slack.text import LIMITS, bold, clip, escape, mrkdwn_to_plain, translate_mrkdwn, translator
from psa_chatops.core.errors import N_
from psa_chatops.core.priorities import PRIORITY_LABELS, Priority
from psa_chatops.core.ticket_decisions import MAX_TITLE
from psa_chatops.handlers.views import TicketView
from psa_chatops.i18n import Translator, translate

__all__ = [
    "add_note_modal",
    "close_modal",
    "input_errors",
    "new_ticket_modal",
    "options",
    "prefill_from_message",
]

TEXT_INPUT: Final = LIMITS.INPUT_VALUE  # Slack's maximum for a plain_text_input
ErrorText = str | tuple[str, Mapping[str, object]]  # a msgid, or a msgid with its parameters


def new_ticket_modal(
    locale: str,
    *,
    title: str = "",
    description: str = "",
    customer: tuple[str, str] | None = None,
    private_metadata: str = "",
) -> dict[str, Any]:
    """The New ticket modal; ``customer`` is (id, name) of a preselected customer, texts are raw and prefilled."""
    tr = translator(locale)
    blocks: list[Block] = [
        _input(ids.CUSTOMER, tr.t("Customer"), _customer_select(customer, tr)),
        _input(ids.TITLE, tr.t("Title"), _text_input(ids.TITLE[1], title, max_length=MAX_TITLE)),
        _input(
            ids.DESCRIPTION,
            tr.t("Description"),
            _text_input(ids.DESCRIPTION[1], description, multiline=True),
            optional=True,
        ),
        _input(ids.PRIORITY, tr.t("Priority"), _priority_select(tr)),
        _input(
            ids.ASSET,
            tr.t("Asset"),
            _external_select(ids.ASSET[1], tr.t("Search the customer's assets")),
            optional=True,
            hint=tr.t("Only assets of the chosen customer are offered."),
        ),
        _input(
            ids.ASSIGNEE,
            tr.t("Assignee"),
            {"type": "users_select", "action_id": ids.ASSIGNEE[1], "placeholder": _placeholder(tr.t("Unassigned"))},
            optional=True,
        ),
    ]
    return _modal(ids.NEW_TICKET_MODAL, tr.t("New ticket"), tr.t("Create"), blocks, tr, private_metadata)


def prefill_from_message(text: str, permalink: str, locale: str) -> tuple[str, str]:
    """(title, description) for the "Create PSA ticket" shortcut: the message's first line and the whole message,
    with the permalink kept whole at the end of the description whatever the message's length."""
    raw = mrkdwn_to_plain(text).strip()
    first_line = next((line.strip() for line in raw.splitlines() if line.strip()), "")
    title = clip(first_line, MAX_TITLE)
    source = translate("From Slack: {permalink}", locale, permalink=permalink)
    room = TEXT_INPUT - len(source) - 2
    body = clip(raw, room) if room > 0 else ""
    return title, f"{body}\n\n{source}".strip()


def add_note_modal(
    view: TicketView, locale: str, *, private_metadata: str, visibility: str = "internal"
) -> dict[str, Any]:
    """Add a note: the text, and whether it is an internal note or a reply the customer sees."""
    tr = translator(locale)
    internal = _radio_option(tr.t("Internal note"), "internal", tr.t("Only technicians see it."))
    public = _radio_option(tr.t("Reply to the customer"), "public", tr.t("The customer sees it."))
    radio = {
        "type": "radio_buttons",
        "action_id": ids.NOTE_VISIBILITY[1],
        "options": [internal, public],
        "initial_option": public if visibility == "public" else internal,
    }
    blocks: list[Block] = [
        context(_ticket_line(view)),
        _input(ids.NOTE_BODY, tr.t("Note"), _text_input(ids.NOTE_BODY[1], "", multiline=True, focus=True)),
        _input(ids.NOTE_VISIBILITY, tr.t("Visibility"), radio),
    ]
    title = tr.t("Note on #{number}", number=view.number)
    return _modal(ids.ADD_NOTE_MODAL, title, tr.t("Add note"), blocks, tr, private_metadata)


def close_modal(view: TicketView, locale: str, *, private_metadata: str) -> dict[str, Any]:
    """Close with a resolution; the modal is the confirmation (closing cannot be undone)."""
    tr = translator(locale)
    question = translate_mrkdwn(N_("Close {ticket}?"), tr.locale, ticket=bold(_ticket_line(view)))
    warning = escape(tr.t("A closed ticket cannot be reopened."))
    resolution = _text_input(ids.RESOLUTION[1], view.resolution or "", multiline=True, focus=True)
    blocks: list[Block] = [
        section(f"{question}\n{warning}"),
        _input(ids.RESOLUTION, tr.t("Resolution"), resolution, hint=tr.t("What was done; the customer may read it.")),
    ]
    title = tr.t("Close #{number}", number=view.number)
    return _modal(ids.CLOSE_MODAL, title, tr.t("Close ticket"), blocks, tr, private_metadata)


def input_errors(errors: Mapping[tuple[str, str] | str, ErrorText], locale: str) -> dict[str, Any]:
    """The ``view_submission`` ack that shows messages under the inputs: keys are ``ids`` pairs (or block ids),
    values msgids (or (msgid, params)), translated here."""
    tr = translator(locale)
    shown: dict[str, str] = {}
    for key, message in errors.items():
        block_id = key if isinstance(key, str) else key[0]
        msgid, params = (message, {}) if isinstance(message, str) else message
        shown[block_id] = clip(tr.t(msgid, **params), LIMITS.INPUT_HINT)
    return {"response_action": "errors", "errors": shown}


def options(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The response to a ``block_suggestion`` (external select): (value, label) pairs, at most 100.

    Labels are cut to 75 characters; an item whose value Slack would refuse (empty, over 150) is left out rather
    than failing the whole list.
    """
    chosen = [(v, label) for v, label in items if 0 < len(v) <= LIMITS.OPTION_VALUE]
    return {"options": [option(label, value) for value, label in chosen[: LIMITS.OPTIONS]]}


# --- pieces ------------------------------------------------------------------------------------------------------


def _modal(
    callback_id: str, title: str, submit: str, blocks: list[Block], tr: Translator, private_metadata: str
) -> dict[str, Any]:
    if len(private_metadata) > LIMITS.PRIVATE_METADATA:
        raise ValueError(f"private_metadata has {len(private_metadata)} characters; Slack allows 3,000")
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, LIMITS.MODAL_TITLE),
        "submit": plain(submit, LIMITS.MODAL_TITLE),
        "close": plain(tr.t("Cancel"), LIMITS.MODAL_TITLE),
        "blocks": blocks,
    }
    if private_metadata:
        view["private_metadata"] = private_metadata
    return view


def _input(
    pair: tuple[str, str], label: str, element: dict[str, Any], *, optional: bool = False, hint: str | None = None
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": pair[0],
        "label": plain(label, LIMITS.INPUT_LABEL),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, LIMITS.INPUT_HINT)
    return block


def _placeholder(raw: str) -> dict[str, Any]:
    return plain(raw, LIMITS.PLACEHOLDER)


def _text_input(
    action_id: str, initial: str, *, multiline: bool = False, max_length: int = TEXT_INPUT, focus: bool = False
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = clip(initial, max_length)
    if focus:
        element["focus_on_load"] = True
    return element


def _external_select(action_id: str, placeholder: str) -> dict[str, Any]:
    """An external select that asks for options as soon as it opens (min_query_length 0)."""
    return {
        "type": "external_select",
        "action_id": action_id,
        "placeholder": _placeholder(placeholder),
        "min_query_length": 0,
    }


def _customer_select(customer: tuple[str, str] | None, tr: Translator) -> dict[str, Any]:
    element = _external_select(ids.CUSTOMER[1], tr.t("Search customers"))
    if customer is not None:
        customer_id, name = customer
        element["initial_option"] = option(name or customer_id, customer_id)
    return element


def _priority_select(tr: Translator) -> dict[str, Any]:
    choices = [option(tr.t(PRIORITY_LABELS[p]), p.value) for p in Priority]
    return {
        "type": "static_select",
        "action_id": ids.PRIORITY[1],
        "options": choices,
        "initial_option": choices[Priority.MEDIUM.rank],
    }


def _radio_option(label: str, value: str, description: str) -> dict[str, Any]:
    return {**option(label, value), "description": plain(description, LIMITS.OPTION_TEXT)}


def _ticket_line(view: TicketView) -> str:
    return f"#{view.number} {escape(clip(view.title, 200))}"
