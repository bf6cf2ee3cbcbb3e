"""The message extension: ``composeExtension/query`` searches tickets as the user (their permissions decide what
they find), ``composeExtension/queryLink`` unfurls a ticket URL under ``PSA_PUBLIC_URL``. Both answer in the
invoke response; unlinked users get the link instructions as the extension's message."""

from __future__ import annotations

from typing import Any

from psa_chatops.bot import chat_queries
from psa_chatops.bot.teams import activities, replies
from psa_chatops.bot.teams.conversation import Said
from psa_chatops.cards.slack.unfurl import number_from_url
from psa_chatops.core.errors import DomainError
from psa_chatops.handlers import queries

Payload = dict[str, Any]
QUERY = "composeExtension/query"
QUERY_LINK = "composeExtension/queryLink"
INVOKES = (QUERY, QUERY_LINK)


def as_message(text: str) -> Payload:
    return {"composeExtension": {"type": "message", "text": text}}


async def answer(said: Said, name: str | None, value: Any) -> Payload:
    actor = said.context.actor
    if not (actor.technician or actor.contact):
        return as_message(replies.plain(replies.link_instructions(said.locale)))
    try:
        if name == QUERY_LINK:
            return await unfurl(said, activities.link_url(value))
        return await search(said, activities.query_text(value), *activities.query_paging(value))
    except DomainError as exc:
        return as_message(replies.plain(replies.error(exc, said.locale)))


async def search(said: Said, text: str, skip: int, count: int) -> Payload:
    now = said.rt.now()
    if text:
        view = await said.read(lambda uow: queries.search(text, uow=uow, now=now, limit=skip + count))
    else:  # the initial run (no text yet): the user's own open tickets
        view = await said.read(lambda uow: queries.my_tickets(uow=uow, now=now))
    return replies.search_results(list(view.tickets)[skip : skip + count], said.locale, said.rt.public_url)


async def unfurl(said: Said, url: str) -> Payload:
    number = number_from_url(said.rt.public_url, url)
    if number is None:
        return {"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": []}}
    view = await chat_queries.ticket(said.rt, said.context, number)
    return replies.unfurled(view, said.locale, said.rt.public_url)
