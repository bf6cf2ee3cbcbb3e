"""What every Teams handler needs (``ChatRuntime``) and the conversation store; handlers are plain functions over
one ``TeamsRuntime``. Dedupe keys: the activity id (Teams redelivers an activity it got no timely answer for), or
(user, verb, ticket, card version) for a double click; scope ``teams``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from psa_chatops.bot.chat_runtime import ChatRuntime, Result
from psa_chatops.bot.teams.identity import TeamsIdentity
from psa_chatops.storage.teams_conversations import TeamsConversationStore

SCOPE = "teams"
__all__ = ["SCOPE", "Result", "TeamsRuntime"]


@dataclass
class TeamsRuntime(ChatRuntime[TeamsIdentity]):
    SCOPE: ClassVar[str] = SCOPE

    conversations: TeamsConversationStore
