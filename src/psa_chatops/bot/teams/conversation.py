"""Chat commands (personal chat, or an @mention in a channel or group chat): text in, one card out.

``help``, ``ticket 12345``, ``mine``, ``queue``, ``search``, ``sla``, ``new [title]`` (the form card), ``note``,
``close``, ``link``, ``subscribe``, ``unsubscribe``; anything else gets the help card naming the closest
command. Unlinked users get the link instructions (``link`` works for them). Writes run once per activity id, so a
redelivered activity shows the same card and writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from psa_chatops.bot import chat_queries
from psa_chatops.bot.teams import commands as c
from psa_chatops.bot.teams import replies, subscriptions, texts
from psa_chatops.bot.teams.runtime import TeamsRuntime
from psa_chatops.cards.teams.alert import alert_card
from psa_chatops.core import commands as cmd
from psa_chatops.core.errors import DomainError, NotFoundError
from psa_chatops.core.tickets_state import Visibility
from psa_chatops.handlers import actors
from psa_chatops.handlers.ports import CommandContext
from psa_chatops.storage import directory as store
from psa_chatops.storage.engine import read_connection

Card = dict[str, Any]
Member = dict[str, Any]
MemberLookup = Callable[[], Awaitable[Member | None]]  # the sender in the conversation roster


@dataclass
class Said:
    """One chat message: who, where, what, and how to look the sender up in the roster."""

    rt: TeamsRuntime
    context: CommandContext
    locale: str
    text: str
    activity_id: str
    conversation_id: str
    user_id: str
    viewer_id: str  # the Teams id (29:...), for the card's refresh
    member: MemberLookup

    async def read(self, query: Callable[..., Awaitable[Any]]) -> Any:
        return await self.rt.read(query, self.context)

    def card(self, view: Any) -> Card:
        return replies.ticket_card(view, self.locale, self.rt.public_url, viewer_ids=[self.viewer_id])

    def listing(self, view: Any) -> Card:
        return replies.ticket_list(view, self.locale, self.rt.public_url)

    async def write(self, command: cmd.Command) -> Card:
        """Run a write once per activity id and answer with the fresh card (a redelivery shows the same card)."""

        async def work() -> dict[str, Any]:
            view = await self.rt.handle(command, self.context)
            return {"number": view.number}

        done = await self.rt.once(f"message:{self.activity_id}", work)
        number = int(done["number"]) if done else int(getattr(command, "number", 0))
        return self.card(await chat_queries.ticket(self.rt, self.context, number))


async def answer(said: Said) -> Card:
    """The reply card for one chat message (errors become an error card, never an exception)."""
    try:
        request = c.parse(said.text)
        if isinstance(request, c.Help):
            return replies.help_card(said.locale)
        if isinstance(request, c.Unknown):
            return replies.help_card(said.locale, unknown=request.word)
        if isinstance(request, c.Link):
            return await link(said)
        actor = said.context.actor
        if not (actor.technician or actor.contact):
            return replies.link_instructions(said.locale)
        return await ANSWERS[type(request)](request, said)
    except DomainError as exc:
        return replies.error(exc, said.locale)


async def _show(request: c.ShowTicket, said: Said) -> Card:
    return said.card(await chat_queries.ticket(said.rt, said.context, request.number))


async def _show_alert(request: c.ShowAlert, said: Said) -> Card:
    first, *others = await chat_queries.alerts(said.rt, said.context, request)
    return alert_card(first, locale=said.locale, public_url=said.rt.public_url, others=others)


async def _list(request: chat_queries.ListRequest, said: Said) -> Card:
    return said.listing(await chat_queries.listing(said.rt, said.context, request))


async def _new(request: c.NewTicket, said: Said) -> Card:
    form_id = said.activity_id or said.rt.now().isoformat()
    return replies.new_ticket_form(said.locale, title=request.title, customers=await customers(said), form_id=form_id)


async def customers(said: Said) -> list[tuple[str, str]]:
    """The customers the user may open tickets for, as the form's static choices."""
    listing = store.Listing(limit=100, customer_ids=actors.visible_customers(said.context.actor))
    async with read_connection(said.rt.engine) as conn:
        found = await store.page(conn, store.CUSTOMERS, listing)
    return [(customer.id, customer.name) for customer in found]


async def _note(request: c.Note, said: Said) -> Card:
    visibility = Visibility.PUBLIC if request.public else Visibility.INTERNAL
    return await said.write(cmd.AddNote(number=request.number, body=request.body, visibility=visibility))


async def _close(request: c.Close, said: Said) -> Card:
    return await said.write(cmd.CloseTicket(number=request.number, resolution=request.resolution))


async def _subscribe(request: c.CustomerSubscribe, said: Said) -> Card:
    rule = await subscriptions.subscribe(said.rt, said.context.actor, said.conversation_id, request)
    name = request.rule.customer if rule.customer_id else None
    return replies.subscribed(rule, said.locale, customer_name=name)


async def _unsubscribe(_request: c.Unsubscribe, said: Said) -> Card:
    removed = await subscriptions.unsubscribe(said.rt, said.context.actor, said.conversation_id)
    return replies.unsubscribed(removed, said.locale)


async def link(said: Said) -> Card:
    """Link the sender to the technician with the e-mail address Teams lists for them in this conversation."""
    member = await said.member()
    if member is None:
        raise NotFoundError(texts.UNKNOWN_MEMBER)
    email = member.get("email") or member.get("userPrincipalName")
    try:
        tech = await said.rt.identity.link_by_email(said.user_id, str(email) if email else None)
    except NotFoundError:
        return replies.link_instructions(said.locale, email_hint=str(email))
    return replies.info(texts.LINKED, said.locale, name=tech.name, email=tech.email)


ANSWERS: dict[type[Any], Callable[[Any, Said], Awaitable[Card]]] = {
    c.ShowTicket: _show,
    c.ShowAlert: _show_alert,
    c.Mine: _list,
    c.Queue: _list,
    c.Search: _list,
    c.Sla: _list,
    c.NewTicket: _new,
    c.Note: _note,
    c.Close: _close,
    c.CustomerSubscribe: _subscribe,
    c.Unsubscribe: _unsubscribe,
}
