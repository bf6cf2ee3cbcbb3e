"""Teams user -> actor. The durable link is an ``actor_links`` row (channel ``teams``, external id = the user's
Azure AD object id, ``from.aadObjectId``; the Teams-scoped ``29:...`` id when there is none, e.g. the Emulator).

``link`` looks the user up in the conversation roster (``GET /v3/conversations/{id}/members/{userId}``, core's
connector client) and links the technician whose e-mail equals the member's ``email`` (else its
``userPrincipalName``). In sandbox mode an unknown user is linked to a demo technician on first use, by the same
rule as Slack: ``t-dispatch``, else the first dispatcher, else the first admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from psa_chatops.bot.chat_identity import SANDBOX_TECHNICIAN, ChatIdentity
from psa_chatops.bot.teams import texts
from psa_chatops.core.directory import Technician

CHANNEL = "teams"
__all__ = ["CHANNEL", "SANDBOX_TECHNICIAN", "TeamsIdentity"]


@dataclass
class TeamsIdentity(ChatIdentity):
    channel: str = CHANNEL

    async def link_by_email(self, user_id: str, email: str | None) -> Technician:
        return await self.link_email(user_id, email, missing=texts.NO_EMAIL)
