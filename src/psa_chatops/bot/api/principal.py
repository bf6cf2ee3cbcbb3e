"""Who calls the API: an API key or an OAuth2 token, with scopes; turned into the actor the handlers check.

Scopes: ``tickets:read``, ``tickets:write``, ``directory:read``, ``directory:write``, ``routing:read``,
``routing:write``, ``alerts:read``, ``alerts:write`` and ``admin`` (everything, including deliveries and API
keys). A ``:write`` scope implies the matching ``:read``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psa_chatops.handlers.ports import Actor, ApiClient

SCOPES: dict[str, str] = {
    "tickets:read": "Read tickets, their notes and history",
    "tickets:write": "Open and change tickets, add notes",
    "directory:read": "Read customers, contacts, assets, technicians, maintenance windows and SLA policies",
    "directory:write": "Create and change customers, contacts, assets, technicians and maintenance windows",
    "routing:read": "Read routing rules (which channels hear which events)",
    "routing:write": "Create, change and delete routing rules",
    "alerts:read": "Read security alerts and severity mappings",
    "alerts:write": "Post security alerts",
    "admin": "Everything, including deliveries (outbox) and API keys",
}
ADMIN = "admin"
API_CHANNEL = "api"


def unknown_scopes(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> list[str]:
    return sorted(set(scopes) - set(SCOPES))


@dataclass(frozen=True)
class Principal:
    id: str  # recorded as the actor on events and in the audit log: "apikey:<id>" or "oauth:<subject>"
    name: str
    scopes: frozenset[str]
    customer_ids: tuple[str, ...] | None = None
    sandbox: bool = False
    key_id: str | None = None  # the API key behind it (also for OAuth2 tokens issued to a key)
    signing_secret: str | None = field(default=None, repr=False)  # requests must be signed with it (seed 9.1)

    def has(self, scope: str) -> bool:
        if ADMIN in self.scopes or scope in self.scopes:
            return True
        resource, _, action = scope.partition(":")
        return action == "read" and f"{resource}:write" in self.scopes

    def missing(self, required: tuple[str, ...]) -> list[str]:
        return [s for s in required if not self.has(s)]

    def actor(self, locale: str) -> Actor:
        client = ApiClient(id=self.id, name=self.name, scopes=self.scopes, customer_ids=self.customer_ids)
        return Actor(channel=API_CHANNEL, external_id=self.id, client=client, locale=locale)

    @property
    def rate_key(self) -> str:
        return f"key:{self.key_id or self.id}"
