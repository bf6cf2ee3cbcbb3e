"""The agent: the SDK's ``ActivityHandler`` routing each activity type to one plain function.

Every activity first refreshes the conversation's row in ``teams_conversations`` (the reference for proactive
messages; skipped when unchanged). Messages are chat commands, or an ``Action.Submit`` fallback when they carry
a ``value`` with a verb; invokes are card actions (``adaptiveCard/action``) and the message extension
(``composeExtension/query``, ``composeExtension/queryLink``) and the form's typeahead (``application/search``),
answered in the HTTP response.
"""

from __future__ import annotations

import logging
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.core import ActivityHandler, TurnContext
from microsoft_agents.hosting.core.channel_service_adapter import ChannelServiceAdapter

from psa_chatops.bot.teams import actions, activities, conversation, extension, replies, typeahead
from psa_chatops.bot.teams.runtime import TeamsRuntime

logger = logging.getLogger(__name__)
Payload = dict[str, Any]
REMOVED = ("remove", "remove-upgrade")


class PsaAgent(ActivityHandler):
    def __init__(self, rt: TeamsRuntime) -> None:
        self.rt = rt

    async def on_turn(self, turn_context: TurnContext) -> None:  # type: ignore[override]
        await remember(self.rt, turn_context.activity)
        await super().on_turn(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:  # type: ignore[override]
        activity = turn_context.activity
        verb, _data = activities.card_action(activity.value)
        if verb:
            await submitted(self.rt, turn_context)
            return
        said = await _said(self.rt, turn_context)
        await send_card(turn_context, await conversation.answer(said))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:  # type: ignore[override]
        body = await invoked(self.rt, turn_context)
        if body is None:
            return InvokeResponse(status=501)
        return InvokeResponse(status=200, body=body)


async def remember(rt: TeamsRuntime, activity: Activity) -> None:
    gone = activity.type == ActivityTypes.installation_update and activity.action in REMOVED
    gone = gone or _bot_removed(activity)
    seen = activities.conversation_of(activity, installed=not gone)
    if seen is not None:
        await rt.conversations.remember(seen, now=rt.now())


def _bot_removed(activity: Activity) -> bool:
    bot = activity.recipient.id if activity.recipient else None
    return bool(bot) and any(m.id == bot for m in activity.members_removed or [])


def _locale(rt: TeamsRuntime, turn_context: TurnContext, actor: Any) -> str:
    return rt.locale(actor, turn_context.activity.locale)


async def _said(rt: TeamsRuntime, turn_context: TurnContext) -> conversation.Said:
    activity = turn_context.activity
    user_id = activities.user_id(activity)
    context = await rt.context(user_id, correlation_id=activity.id)
    conversation_id = activities.conversation_id(activity)
    sender = activities.sender_id(activity)

    async def member() -> Payload | None:
        return await roster_member(turn_context, conversation_id, sender or user_id)

    return conversation.Said(
        rt=rt,
        context=context,
        locale=_locale(rt, turn_context, context.actor),
        text=activity.text or "",
        activity_id=activity.id or "",
        conversation_id=conversation_id,
        user_id=user_id,
        viewer_id=sender or "",
        member=member,
    )


async def roster_member(turn_context: TurnContext, conversation_id: str, member_id: str) -> Payload | None:
    """The sender as the conversation roster lists them (``GET /v3/conversations/{id}/members/{userId}``)."""
    connector: Any = turn_context.turn_state.get(ChannelServiceAdapter._AGENT_CONNECTOR_CLIENT_KEY)
    if connector is None or not conversation_id or not member_id:
        return None
    try:
        found = await connector.conversations.get_conversation_member(conversation_id, member_id)
    except Exception as exc:  # the connector answers 404 for strangers; any failure means "not found" here
        logger.warning("teams member lookup failed: %s", type(exc).__name__)
        return None
    dumped: Payload = found.model_dump(by_alias=True, exclude_none=True)
    return dumped


async def send_card(turn_context: TurnContext, card: Payload) -> None:
    await turn_context.send_activity(Activity.model_validate(replies.message(card)))


async def _click(rt: TeamsRuntime, turn_context: TurnContext, value: Any) -> actions.Click:
    activity = turn_context.activity
    user_id = activities.user_id(activity)
    context = await rt.context(user_id, correlation_id=activity.id)
    verb, data = activities.card_action(value)
    return actions.Click(
        rt=rt,
        context=context,
        locale=_locale(rt, turn_context, context.actor),
        user_id=user_id,
        viewer_id=activities.sender_id(activity),
        verb=verb,
        data=data,
        activity_id=activity.id or "",
    )


async def invoked(rt: TeamsRuntime, turn_context: TurnContext) -> Payload | None:
    activity = turn_context.activity
    if activity.name == "adaptiveCard/action":
        return await actions.act(await _click(rt, turn_context, activity.value))
    if activity.name in extension.INVOKES:
        said = await _said(rt, turn_context)
        return await extension.answer(said, activity.name, activity.value)
    if activity.name == typeahead.SEARCH:
        return await typeahead.answer(await _said(rt, turn_context), activity.value)
    return None


async def submitted(rt: TeamsRuntime, turn_context: TurnContext) -> None:
    """``Action.Submit`` (clients without Universal Actions): run the verb, then update the card in place."""
    activity = turn_context.activity
    answer = await actions.act(await _click(rt, turn_context, activity.value))
    if answer.get("type") == replies.CARD_CONTENT_TYPE and activity.reply_to_id:
        update = Activity.model_validate(replies.message(answer["value"]))
        update.id = activity.reply_to_id
        await turn_context.update_activity(update)
        return
    if answer.get("type") == replies.CARD_CONTENT_TYPE:
        await send_card(turn_context, answer["value"])
        return
    text = answer.get("value")
    message = text if isinstance(text, str) else str((text or {}).get("message", ""))
    await turn_context.send_activity(Activity(type=ActivityTypes.message, text=message))
