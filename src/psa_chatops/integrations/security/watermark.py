"""Where a poller stands: the newest change time it has handed on, and the ids it handed on at exactly that time.

Vendors filter by "updated at or after" (``updatedAt__gte``, ``lastUpdateDateTime ge``). Asking with ``>=`` and
skipping the ids already seen at the boundary loses nothing that changed in the same microsecond and hands nothing
on twice; ``>`` would lose such an alert, ``>=`` alone would repeat the last one on every poll.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Watermark:
    after: datetime
    ids: frozenset[str] = frozenset()

    def is_new(self, alert_id: str, updated_at: datetime) -> bool:
        return updated_at > self.after or (updated_at == self.after and alert_id not in self.ids)

    def advance(self, seen: Iterable[tuple[str, datetime]]) -> Watermark:
        """The watermark after handing on ``seen`` (id, updated at) as well."""
        after, ids = self.after, set(self.ids)
        for alert_id, updated_at in seen:
            if updated_at > after:
                after, ids = updated_at, {alert_id}
            elif updated_at == after:
                ids.add(alert_id)
        return Watermark(after, frozenset(ids))

    def to_text(self) -> str:
        return json.dumps({"after": self.after.astimezone(UTC).isoformat(), "ids": sorted(self.ids)})

    @classmethod
    def from_text(cls, text: str) -> Watermark:
        """The stored form; ``ValueError`` when it is not one (the caller then starts from its look-back)."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("after"), str):
            raise ValueError("not a watermark")
        ids = data.get("ids", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("watermark ids must be strings")
        after = datetime.fromisoformat(data["after"])
        if after.tzinfo is None:
            raise ValueError("watermark time without a timezone")
        return cls(after.astimezone(UTC), frozenset(ids))
