"""Every message the adapter sends, as a plain dict for ``ack``/``respond``/``chat.*``: a thin layer over the
renderers in ``cards.slack`` so the listeners never build Block Kit themselves."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from psa_chatops.cards.slack import messages, modals, ticket
from psa_chatops.core.errors import DomainError
from psa_chatops.core.routing import RoutingRule
from psa_chatops.handlers.views import TicketListView, TicketView

Payload = dict[str, Any]


class Prepared(dict[str, Any]):
    """A finished message that may be sent many times (a cached card): its JSON is encoded once."""

    _json: str | None = None

    def json(self) -> str:
        if self._json is None:
            self._json = json.dumps(self)
        return self._json


def ephemeral(message: Payload) -> Payload:
    return {**message, "response_type": "ephemeral"}


def ack_body(message: Payload) -> str:
    """The HTTP body of an acknowledgement that answers with ``message`` (Slack reads it as the reply)."""
    return message.json() if isinstance(message, Prepared) else json.dumps(message)


def card(view: TicketView, locale: str, public_url: str, *, ephemeral_card: bool = False) -> Payload:
    return ticket.ticket_card(view, locale=locale, public_url=public_url, ephemeral=ephemeral_card).as_dict()


def ticket_list(view: TicketListView, locale: str, public_url: str) -> Payload:
    return ticket.ticket_list(view, locale=locale, public_url=public_url).as_dict()


def help_text(locale: str, *, unknown: str | None = None, suggestion: str | None = None) -> Payload:
    return messages.help_message(locale, unknown=unknown, suggestion=suggestion).as_dict()


def error(exc: DomainError, locale: str) -> Payload:
    return messages.error_message(exc.template, exc.params, locale).as_dict()


def info(msgid: str, locale: str, **params: object) -> Payload:
    return messages.info_message(msgid, locale, **params).as_dict()


def link_instructions(locale: str, *, email_hint: str | None = None) -> Payload:
    return messages.link_instructions(locale, email_hint=email_hint).as_dict()


def input_errors(errors: Mapping[tuple[str, str] | str, modals.ErrorText], locale: str) -> Payload:
    """The ack of a modal submission with errors shown under the inputs (msgids, translated by the renderer)."""
    return modals.input_errors(errors, locale)


def stale(number: int, locale: str, public_url: str) -> Payload:
    return ephemeral(ticket.stale_card_notice(number, locale=locale, public_url=public_url).as_dict())


def subscribed(rule: RoutingRule, locale: str, *, customer_name: str | None) -> Payload:
    return messages.subscription_summary(rule, locale, customer_name=customer_name).as_dict()


def unsubscribed(removed: int, locale: str) -> Payload:
    return messages.unsubscribed_message(removed, locale).as_dict()
