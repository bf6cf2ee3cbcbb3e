"""``/psa``: the ack answers from the database (cards, lists, writes, errors, help), in the HTTP response itself;
what needs Slack's Web API (a modal, ``users.info`` for ``/psa link``) runs in the lazy listener after the ack."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from psa_chatops.bot import chat_queries
from psa_chatops.bot.slack import commands as c
from psa_chatops.bot.slack import replies, subscriptions, texts
from psa_chatops.bot.slack.modals import open_close_modal, open_new_ticket_modal
from psa_chatops.bot.slack.runtime import SlackRuntime
from psa_chatops.cards.slack.alert import alert_card
from psa_chatops.core import commands as cmd
from psa_chatops.core.errors import DomainError, InvalidError
from psa_chatops.core.tickets_state import Visibility
from psa_chatops.handlers.ports import CommandContext

Payload = dict[str, Any]
Answer = Callable[[Any, "Call"], Awaitable[Payload]]


class Call:
    """One ``/psa`` invocation: who, where, and the resolved command context."""

    def __init__(self, rt: SlackRuntime, body: dict[str, Any], context: CommandContext) -> None:
        self.rt, self.body, self.context = rt, body, context
        self.locale = rt.locale(context.actor)

    @property
    def channel_id(self) -> str:
        return str(self.body.get("channel_id", ""))

    def card(self, view: Any) -> Payload:
        return replies.card(view, self.locale, self.rt.public_url, ephemeral_card=True)

    def listing(self, view: Any) -> Payload:
        return replies.ticket_list(view, self.locale, self.rt.public_url)

    async def read(self, query: Callable[..., Awaitable[Any]]) -> Any:
        return await self.rt.read(query, self.context)

    async def write(self, command: cmd.Command) -> Payload:
        """Run a write once per ``trigger_id`` and answer with the fresh card (a retry shows the same card)."""

        async def work() -> Payload:
            view = await self.rt.handle(command, self.context)
            return {"number": view.number}

        done = await self.rt.once(f"command:{self.body.get('trigger_id')}", work)
        number = int(done["number"]) if done else int(getattr(command, "number", 0))
        return self.card(await chat_queries.ticket(self.rt, self.context, number))


def register(bolt: AsyncApp, rt: SlackRuntime) -> None:
    async def psa_ack(ack: AsyncAck, body: dict[str, Any]) -> BoltResponse | None:
        message = await answer(rt, body)
        if not message:
            await ack()
            return None
        return BoltResponse(status=200, body=replies.ack_body(message))  # Bolt sends an ack function's response

    async def psa_slow(body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> None:
        await slow(rt, body, client, respond)

    async def answers_in_ack(body: dict[str, Any]) -> bool:
        return not needs_slack(body)

    # Bolt runs the first listener whose matchers pass. Most commands answer in the ack alone; registering them
    # without a lazy listener spares each one Bolt's deep copy of the request for a lazy run that would do nothing.
    bolt.command("/psa", matchers=[answers_in_ack])(ack=psa_ack, lazy=[])
    bolt.command("/psa")(ack=psa_ack, lazy=[psa_slow])


def is_slow(request: c.Request) -> bool:
    return isinstance(request, c.NewTicket | c.Link) or (isinstance(request, c.Close) and not request.resolution)


def needs_slack(body: dict[str, Any]) -> bool:
    """Whether this ``/psa`` text has work for the lazy listener (a modal, ``users.info``)."""
    request = _parsed(str(body.get("text", "")))
    return request is not None and is_slow(request)


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> c.Request | None:
    """The request, or None when the text is invalid (the ack explains why). The same few texts arrive again and
    again, and parsing is pure: the matcher and the answer cache share one parse per text."""
    try:
        return c.parse(text)
    except DomainError:
        return None


async def answer(rt: SlackRuntime, body: dict[str, Any]) -> Payload | None:
    """The ack's message, or None when the lazy listener answers (modals, ``/psa link``).

    ``/psa ticket N``, the most frequent command, changes nothing: its whole answer (card, error or link
    instructions) depends only on the database, the user, the text and the minute shown in the SLA line. It is
    kept until the next commit anywhere (``storage.commit_watch``) or the next minute, and sent as prepared JSON.
    """
    text = str(body.get("text", ""))
    if not isinstance(_parsed(text), c.ShowTicket):
        return await _answer(rt, body)
    minute = int(rt.now().timestamp()) // 60
    key = ("slack.answer", body.get("team_id"), body.get("user_id"), text, minute)

    async def prepared() -> Payload | None:
        message = await _answer(rt, body)
        return None if message is None else replies.Prepared(message)

    cached: Payload | None = await rt.reads.get(key, prepared)
    return cached


async def _answer(rt: SlackRuntime, body: dict[str, Any]) -> Payload | None:
    user_id = str(body.get("user_id", ""))
    context = await rt.context(user_id, correlation_id=body.get("trigger_id"))
    call = Call(rt, body, context)
    try:
        request = c.parse(str(body.get("text", "")))
        if isinstance(request, c.Help | c.Unknown):
            return _help(request, call.locale)
        if isinstance(request, c.Link):
            return None  # works for unlinked users too: the lazy listener asks Slack for the e-mail
        if not (context.actor.technician or context.actor.contact):
            return replies.ephemeral(replies.link_instructions(call.locale))
        if is_slow(request):
            return None
        return replies.ephemeral(await ANSWERS[type(request)](request, call))
    except DomainError as exc:
        return replies.ephemeral(replies.error(exc, call.locale))


def _help(request: c.Help | c.Unknown, locale: str) -> Payload:
    if isinstance(request, c.Unknown):
        return replies.ephemeral(replies.help_text(locale, unknown=request.word, suggestion=request.suggestion))
    return replies.ephemeral(replies.help_text(locale))


async def _show(request: c.ShowTicket, call: Call) -> Payload:
    return call.card(await chat_queries.ticket(call.rt, call.context, request.number))


async def _show_alert(request: c.ShowAlert, call: Call) -> Payload:
    first, *others = await chat_queries.alerts(call.rt, call.context, request)
    return alert_card(first, locale=call.locale, public_url=call.rt.public_url, others=others).as_dict()


async def _list(request: chat_queries.ListRequest, call: Call) -> Payload:
    return call.listing(await chat_queries.listing(call.rt, call.context, request))


async def _assign(request: c.Assign, call: Call) -> Payload:
    assignee = await call.rt.identity.actor(request.user_id)
    if assignee.technician is None:
        raise InvalidError(texts.NOT_LINKED_USER, user=request.user_id)
    return await call.write(cmd.AssignTicket(number=request.number, assignee_id=assignee.technician.id))


async def _note(request: c.Note, call: Call) -> Payload:
    visibility = Visibility.PUBLIC if request.public else Visibility.INTERNAL
    return await call.write(cmd.AddNote(number=request.number, body=request.body, visibility=visibility))


async def _close(request: c.Close, call: Call) -> Payload:
    return await call.write(cmd.CloseTicket(number=request.number, resolution=request.resolution))


async def _subscribe(request: c.Subscribe, call: Call) -> Payload:
    return await subscriptions.subscribe(call.rt, call.context.actor, call.channel_id, request)


async def _unsubscribe(_request: c.Unsubscribe, call: Call) -> Payload:
    return await subscriptions.unsubscribe(call.rt, call.context.actor, call.channel_id)


ANSWERS: dict[type[Any], Answer] = {
    c.ShowTicket: _show,
    c.ShowAlert: _show_alert,
    c.Mine: _list,
    c.Queue: _list,
    c.Search: _list,
    c.Sla: _list,
    c.Assign: _assign,
    c.Note: _note,
    c.Close: _close,
    c.Subscribe: _subscribe,
    c.Unsubscribe: _unsubscribe,
}


async def slow(rt: SlackRuntime, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> None:
    """The part of ``/psa`` that calls Slack: open a modal, or link the user by the e-mail Slack verified."""
    try:
        request = c.parse(str(body.get("text", "")))
    except DomainError:
        return  # the ack already explained it
    if not is_slow(request):
        return
    context = await rt.context(str(body.get("user_id", "")))
    locale = rt.locale(context.actor)
    try:
        await _slow(rt, request, body, client, respond, context)
    except DomainError as exc:
        await respond(replies.ephemeral(replies.error(exc, locale)))


async def _slow(
    rt: SlackRuntime,
    request: c.Request,
    body: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    context: CommandContext,
) -> None:
    if isinstance(request, c.Link):
        await link(rt, body, client, respond)
    elif not (context.actor.technician or context.actor.contact):
        return  # the ack already sent the link instructions
    elif isinstance(request, c.NewTicket):
        await open_new_ticket_modal(rt, client, body, context, title=request.title)
    elif isinstance(request, c.Close):
        await open_close_modal(rt, client, body, context, number=request.number)


async def link(rt: SlackRuntime, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> None:
    user_id = str(body.get("user_id", ""))
    tech = await rt.identity.link_by_email(client, user_id)
    locale = rt.locale((await rt.context(user_id)).actor)
    await respond(replies.ephemeral(replies.info(texts.LINKED, locale, name=tech.name, email=tech.email)))
