"""What every Slack listener needs (``ChatRuntime``, cosmicpython's bootstrap); listeners are closures over one
``SlackRuntime``. Dedupe keys: ``event_id``, the modal's ``view.id``, a command's ``trigger_id``, or user +
action + card version (Slack retries with ``X-Slack-Retry-Num`` and double clicks carry the same key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from psa_chatops.bot.chat_runtime import ChatRuntime, Result
from psa_chatops.bot.slack.identity import SlackIdentity

SCOPE = "slack"
__all__ = ["SCOPE", "Result", "SlackRuntime"]


@dataclass
class SlackRuntime(ChatRuntime[SlackIdentity]):
    SCOPE: ClassVar[str] = SCOPE
