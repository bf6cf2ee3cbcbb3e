"""Pure readers of incoming activity JSON (bolt's ``payload_utils`` habit): no I/O, each unit-tested."""

from __future__ import annotations

from typing import Any

from microsoft_agents.activity import Activity

from psa_chatops.storage.teams_conversations import TeamsConversation

Payload = dict[str, Any]


def user_id(activity: Activity) -> str:
    """The Azure AD object id of the sender, else its Teams id (the Emulator sends no AAD id)."""
    sender: Any = activity.from_property  # typed as always present; real activities may lack it
    if sender is None:
        return ""
    return str(sender.aad_object_id or sender.id or "")


def sender_id(activity: Activity) -> str:
    """The sender's Teams id (``29:...``)."""
    sender: Any = activity.from_property
    return str(sender.id or "") if sender is not None else ""


def conversation_id(activity: Activity) -> str:
    conversation: Any = activity.conversation
    return str(conversation.id or "") if conversation is not None else ""


def channel_data(activity: Activity) -> Payload:
    data: Any = activity.channel_data
    if isinstance(data, dict):
        return data
    if data is None:
        return {}
    dumped: Payload = data.model_dump(by_alias=True, exclude_none=True) if hasattr(data, "model_dump") else {}
    return dumped


def conversation_of(activity: Activity, *, installed: bool = True) -> TeamsConversation | None:
    """The ``teams_conversations`` row an activity tells about (None without a conversation or serviceUrl)."""
    conversation: Any = activity.conversation
    if conversation is None or not conversation.id or not activity.service_url:
        return None
    data = channel_data(activity)
    team = data.get("team") or {}
    channel = data.get("channel") or {}
    reference = activity.get_conversation_reference().model_dump(mode="json", by_alias=True, exclude_none=True)
    return TeamsConversation(
        conversation_id=conversation.id,
        service_url=activity.service_url,
        tenant_id=conversation.tenant_id or (data.get("tenant") or {}).get("id"),
        conversation_type=conversation.conversation_type or "personal",
        team_id=team.get("id"),
        name=channel.get("name") or team.get("name") or conversation.name,
        reference=reference,
        installed=installed,
    )


def card_action(value: Any) -> tuple[str, Payload]:
    """(verb, data) of an ``Action.Execute`` invoke value or an ``Action.Submit`` message ``value``."""
    if not isinstance(value, dict):
        return "", {}
    action = value.get("action")
    if isinstance(action, dict):  # adaptiveCard/action: {"action": {"type": "Action.Execute", "verb", "data"}}
        data = action.get("data")
        return str(action.get("verb") or ""), data if isinstance(data, dict) else {}
    return str(value.get("verb") or ""), value  # Action.Submit: the data merged with the inputs


def number_and_version(data: Payload) -> tuple[int, int | None]:
    number = int(str(data.get("number", "")).removeprefix("#"))
    version = data.get("version")
    return number, int(version) if version not in (None, "") else None


def query_text(value: Any) -> str:
    """The search text of a ``composeExtension/query`` (the first parameter that is not ``initialRun``)."""
    if not isinstance(value, dict):
        return ""
    for parameter in value.get("parameters") or []:
        if isinstance(parameter, dict) and parameter.get("name") != "initialRun":
            return str(parameter.get("value") or "").strip()
    return ""


def query_paging(value: Any) -> tuple[int, int]:
    options = (value or {}).get("queryOptions") or {} if isinstance(value, dict) else {}
    skip, count = options.get("skip", 0), options.get("count", 25)
    return max(int(skip or 0), 0), min(max(int(count or 25), 1), 25)


def link_url(value: Any) -> str:
    return str(value.get("url") or "") if isinstance(value, dict) else ""
