"""Modal submissions: New ticket, Add note, Close. The ack validates and writes (database only), answering with
inline errors (``response_action: errors``) or closing the modal; a lazy listener then shows the result where
the modal was opened (the card replaced in place through its ``response_url``, or posted in the thread).

A modal is submitted once per ``view.id``: a double click or a retry finds the first result and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from psa_chatops.bot.slack import announce, payloads, replies, texts
from psa_chatops.bot.slack.runtime import SlackRuntime
from psa_chatops.cards.slack import ids
from psa_chatops.core import commands as cmd
from psa_chatops.core.errors import DomainError, InvalidError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.tickets_state import Source, Visibility
from psa_chatops.handlers.ports import CommandContext

Payload = dict[str, Any]
Field = tuple[str, str]
Build = Callable[[Payload, Payload], cmd.Command]


def register(bolt: AsyncApp, rt: SlackRuntime) -> None:
    for callback_id, build, required, error_field in SUBMISSIONS:
        _register_one(bolt, rt, callback_id, build, required, error_field)


def _register_one(
    bolt: AsyncApp, rt: SlackRuntime, callback_id: str, build: Build, required: tuple[Field, ...], error_field: Field
) -> None:
    async def submit_ack(ack: AsyncAck, body: Payload, view: Payload) -> None:
        await ack(await submit(rt, body, view, build=build, required=required, error_field=error_field))

    async def submit_after(body: Payload, view: Payload, client: AsyncWebClient) -> None:
        await after(rt, body, view, client)

    submit_ack.__name__ = f"submit_{callback_id.replace('.', '_')}"
    submit_after.__name__ = f"after_{callback_id.replace('.', '_')}"
    bolt.view(callback_id)(ack=submit_ack, lazy=[submit_after])


def missing(view: Payload, required: tuple[Field, ...], locale: str) -> Payload | None:
    empty: dict[tuple[str, str] | str, Any] = {
        f: texts.REQUIRED for f in required if payloads.to_input(view, f) is None
    }
    return replies.input_errors(empty, locale) if empty else None


async def submit(
    rt: SlackRuntime, body: Payload, view: Payload, *, build: Build, required: tuple[Field, ...], error_field: Field
) -> Payload:
    """The ack: inline errors, or {} (closes the modal) once the command ran (exactly once per view)."""
    context = await rt.context(payloads.to_user_id(body), correlation_id=str(view.get("id")))
    locale = rt.locale(context.actor)
    errors = missing(view, required, locale)
    if errors is not None:
        return errors
    try:
        command = await _with_assignee(rt, view, build(view, payloads.parse_metadata(view)))
    except DomainError as exc:
        return replies.input_errors({ids.ASSIGNEE: (exc.template, exc.params)}, locale)
    try:
        await rt.once(f"view:{view.get('id')}", lambda: _run(rt, command, context))
    except DomainError as exc:
        return replies.input_errors({error_field: (exc.template, exc.params)}, locale)
    return {}


async def _with_assignee(rt: SlackRuntime, view: Payload, command: cmd.Command) -> cmd.Command:
    """The New ticket modal's assignee is a Slack user (``users_select``): run it as the technician it is linked to."""
    user_id = payloads.to_input(view, ids.ASSIGNEE)
    if not isinstance(command, cmd.OpenTicket) or user_id is None:
        return command
    tech = (await rt.identity.actor(user_id)).technician
    if tech is None:
        raise InvalidError(texts.NOT_LINKED_USER, user=user_id)
    return replace(command, assignee_id=tech.id)


async def _run(rt: SlackRuntime, command: cmd.Command, context: CommandContext) -> Payload:
    view = await rt.handle(command, context)
    return {"number": view.number}


async def after(rt: SlackRuntime, body: Payload, view: Payload, client: AsyncWebClient) -> None:
    """Show the result once (a repeated submission shows nothing new)."""
    done = await rt.recall(f"view:{view.get('id')}")
    if done is None:
        return
    number = int(done["number"])

    async def show() -> Payload:
        await announce.result(rt, client, body, payloads.parse_metadata(view), number)
        return {"number": number}

    await rt.once(f"announce:{view.get('id')}", show)


def _new_ticket(view: Payload, _metadata: Payload) -> cmd.Command:
    description = payloads.to_input(view, ids.DESCRIPTION) or ""
    return cmd.OpenTicket(
        title=payloads.to_input(view, ids.TITLE) or "",
        customer_id=payloads.to_input(view, ids.CUSTOMER) or "",
        description=description,
        priority=Priority(payloads.to_input(view, ids.PRIORITY) or Priority.MEDIUM.value),
        source=Source.SLACK,
        asset_id=payloads.to_input(view, ids.ASSET),
    )


def _note(view: Payload, metadata: Payload) -> cmd.Command:
    visibility = Visibility(payloads.to_input(view, ids.NOTE_VISIBILITY) or Visibility.INTERNAL.value)
    return cmd.AddNote(
        number=int(metadata["number"]), body=payloads.to_input(view, ids.NOTE_BODY) or "", visibility=visibility
    )


def _close(view: Payload, metadata: Payload) -> cmd.Command:
    return cmd.CloseTicket(number=int(metadata["number"]), resolution=payloads.to_input(view, ids.RESOLUTION) or "")


SUBMISSIONS: tuple[tuple[str, Build, tuple[Field, ...], Field], ...] = (
    (ids.NEW_TICKET_MODAL, _new_ticket, (ids.CUSTOMER, ids.TITLE), ids.TITLE),
    (ids.ADD_NOTE_MODAL, _note, (ids.NOTE_BODY,), ids.NOTE_BODY),
    (ids.CLOSE_MODAL, _close, (ids.RESOLUTION,), ids.RESOLUTION),
)
