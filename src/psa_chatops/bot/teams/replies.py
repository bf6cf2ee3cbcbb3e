"""Every card the adapter sends, as plain dicts: a thin layer over the renderers in ``cards.teams`` (the only
module here that calls them), plus the activity and invoke-response envelopes around them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psa_chatops.cards.teams import extension, forms, messages, ticket
from psa_chatops.core.errors import DomainError
from psa_chatops.core.routing import RoutingRule
from psa_chatops.handlers.views import TicketListView, TicketSummaryView, TicketView

Card = dict[str, Any]
Payload = dict[str, Any]
CARD_CONTENT_TYPE = messages.CARD_CONTENT_TYPE


# --- envelopes ---------------------------------------------------------------------------------------------------


def message(card: Card) -> Payload:
    """A message activity (JSON) carrying the card."""
    return messages.message_activity(card)


def card_response(card: Card) -> Payload:
    """The ``adaptiveCard/action`` answer that replaces the card in place (Universal Actions)."""
    return {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": card}


def message_response(text: str) -> Payload:
    """The ``adaptiveCard/action`` answer that leaves the card alone and shows a short text."""
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}


def error_response(status: int, code: str, text: str) -> Payload:
    return {"statusCode": status, "type": "application/vnd.microsoft.error", "value": {"code": code, "message": text}}


# --- cards -------------------------------------------------------------------------------------------------------


def ticket_card(view: TicketView, locale: str, public_url: str, *, viewer_ids: Sequence[str] = ()) -> Card:
    return ticket.ticket_card(view, locale=locale, public_url=public_url, viewer_ids=viewer_ids)


def ticket_list(view: TicketListView, locale: str, public_url: str) -> Card:
    return ticket.ticket_list_card(view, locale=locale, public_url=public_url)


def help_card(locale: str, *, unknown: str | None = None) -> Card:
    suggestion = messages.closest_command(unknown) if unknown else None
    return messages.help_card(locale, unknown=unknown, suggestion=suggestion)


def error(exc: DomainError, locale: str) -> Card:
    return messages.error_card(exc.template, exc.params, locale)


def info(msgid: str, locale: str, **params: object) -> Card:
    return messages.info_card(msgid, locale, **params)


def link_instructions(locale: str, *, email_hint: str | None = None) -> Card:
    return messages.link_instructions_card(locale, email_hint=email_hint)


def new_ticket_form(locale: str, *, title: str, customers: list[tuple[str, str]], form_id: str) -> Card:
    """The form's submit carries ``form_id``: a double click on Create opens one ticket."""
    return forms.new_ticket_form(locale, title=title, customers=customers, data={"form": form_id})


def subscribed(rule: RoutingRule, locale: str, *, customer_name: str | None) -> Card:
    return messages.subscription_card(rule, locale, customer_name=customer_name)


def unsubscribed(removed: int, locale: str) -> Card:
    return messages.unsubscribed_card(removed, locale)


def plain(card: Card) -> str:
    """A card's one-line text (its ``fallbackText``), for answers that show text instead of a card."""
    return str(card.get("fallbackText") or "")


def search_results(tickets: Sequence[TicketSummaryView], locale: str, public_url: str) -> Payload:
    return extension.search_response(tickets, locale=locale, public_url=public_url)


def unfurled(view: TicketView, locale: str, public_url: str) -> Payload:
    return extension.link_unfurl_response(view, locale=locale, public_url=public_url)
