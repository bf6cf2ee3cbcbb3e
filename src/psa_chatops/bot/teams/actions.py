"""Card buttons: ``Action.Execute`` verbs (``adaptiveCard/action`` invokes, answered with the card to show in
place) and the ``Action.Submit`` fallback of older clients (a message activity with ``value``; the card is then
updated with ``update_activity`` on its ``replyToId``). Both run :func:`act`.

A verb runs as the clicking technician. A card carries the version it showed; a click on an older card still acts
unless the ticket moved on in a way that makes the click wrong (closed meanwhile, taken by someone else): then the
current card comes back and nothing is written. A double click or a Teams retry carries the same (user, verb,
ticket, card version, inputs) and writes once; a new-ticket form carries its own id for the same purpose.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from psa_chatops.bot import chat_queries
from psa_chatops.bot.teams import activities, alerts, replies, texts
from psa_chatops.bot.teams.runtime import TeamsRuntime
from psa_chatops.cards.teams import ids
from psa_chatops.core import commands as cmd
from psa_chatops.core.errors import DomainError, InvalidError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets_state import Source, Status, Visibility
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.handlers.views import TicketView
from psa_chatops.i18n import translate

Card = dict[str, Any]
Payload = dict[str, Any]
VERB_ACTIONS = {
    ids.ASSIGN_TO_ME: "assign_to_me",
    ids.SET_STATUS: "set_status",
    ids.ESCALATE: "escalate",
    ids.CLOSE: "close",
    ids.ADD_NOTE: "add_note",
}


@dataclass
class Click:
    rt: TeamsRuntime
    context: CommandContext
    locale: str
    user_id: str
    viewer_id: str
    verb: str
    data: Payload
    activity_id: str

    def text(self, name: str) -> str:
        return str(self.data.get(name) or "").strip()

    def required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise InvalidError(texts.REQUIRED, field=name)
        return value

    async def current(self, number: int) -> TicketView:
        view: TicketView = await chat_queries.ticket(self.rt, self.context, number)
        return view

    def card(self, view: TicketView) -> Card:
        return replies.ticket_card(view, self.locale, self.rt.public_url, viewer_ids=[self.viewer_id])

    def key(self, number: int, version: int | None) -> str:
        inputs = {k: v for k, v in sorted(self.data.items()) if k not in ("verb", "number", "version", "msteams")}
        digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return f"action:{self.user_id}:{self.verb}:{number}:{version}:{digest}"


async def act(click: Click) -> Payload:
    """The invoke response: the card to show in place, or a short message (errors, unlinked users)."""
    actor = click.context.actor
    if alerts.is_alert_verb(click.verb):
        return await alerts.act(click.rt, click.context, verb=click.verb, data=click.data, user_id=click.user_id)
    if not (actor.technician or actor.contact):
        return replies.message_response(replies.plain(replies.link_instructions(click.locale)))
    try:
        if click.verb == ids.NEW_TICKET:
            return replies.card_response(await open_ticket(click))
        if click.verb == ids.REFRESH or click.verb in VERB_ACTIONS:
            return replies.card_response(await change(click))
    except DomainError as exc:
        return replies.message_response(replies.plain(replies.error(exc, click.locale)))
    except (KeyError, ValueError):
        return replies.error_response(400, "BadRequest", "the action's data is not one of ours")
    return replies.error_response(400, "NotSupported", f"unknown verb {click.verb!r}")


def command_of(click: Click, number: int) -> cmd.Command:
    tech = click.context.actor.technician
    if click.verb == ids.ASSIGN_TO_ME and tech is not None:
        return cmd.AssignTicket(number=number, assignee_id=tech.id)
    if click.verb == ids.SET_STATUS:
        return cmd.ChangeStatus(number=number, status=Status(click.required(ids.STATUS)))
    if click.verb == ids.ADD_NOTE:
        visibility = Visibility(click.text(ids.NOTE_VISIBILITY) or Visibility.INTERNAL.value)
        return cmd.AddNote(number=number, body=click.required(ids.NOTE_BODY), visibility=visibility)
    if click.verb == ids.ESCALATE:
        reason = click.text(ids.ESCALATION_REASON) or translate(texts.ESCALATED_FROM_TEAMS, click.locale)
        return cmd.EscalateTicket(number=number, reason=reason)
    if click.verb == ids.CLOSE:
        return cmd.CloseTicket(number=number, resolution=click.required(ids.RESOLUTION))
    raise ValueError(click.verb)


def conflicts(click: Click, version: int | None, view: TicketView) -> bool:
    """Whether a click on an older card would now do the wrong thing."""
    if version is None or version == view.version:
        return False
    me = click.context.actor.technician
    taken = click.verb == ids.ASSIGN_TO_ME and view.assignee_id not in (None, me.id if me else None)
    return taken or VERB_ACTIONS.get(click.verb) not in view.actions


async def change(click: Click) -> Card:
    number, version = activities.number_and_version(click.data)
    view = await click.current(number)
    if click.verb == ids.REFRESH or conflicts(click, version, view):
        return click.card(view)
    command = command_of(click, number)

    async def run() -> Payload:
        await click.rt.handle(command, click.context)
        return {"number": number}

    await click.rt.once(click.key(number, version), run)
    return click.card(await click.current(number))


async def open_ticket(click: Click) -> Card:
    asset = click.text(ids.ASSET) or None
    command = cmd.OpenTicket(
        title=click.required(ids.TITLE),
        customer_id=click.required(ids.CUSTOMER),
        description=click.text(ids.DESCRIPTION),
        priority=Priority(click.text(ids.PRIORITY) or Priority.MEDIUM.value),
        source=Source.TEAMS,
        asset_id=asset,
    )

    async def run() -> Payload:
        view = await click.rt.handle(command, click.context)
        return {"number": view.number}

    form = click.text("form") or click.activity_id
    done = await click.rt.once(f"new:{click.user_id}:{form}", run)
    if done is None:  # the first click is still running: show the form's data back, unchanged
        raise InvalidError(texts.IN_PROGRESS)
    return click.card(await click.current(int(done["number"])))
