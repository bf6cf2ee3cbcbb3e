"""Ticket priority, ordered from most to least urgent."""

from __future__ import annotations

from enum import StrEnum

from psa_chatops.core.errors import N_, Label


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for critical ... 3 for low: smaller is more urgent."""
        return list(Priority).index(self)

    def raised(self) -> Priority:
        """One step more urgent; critical stays critical."""
        return list(Priority)[max(0, self.rank - 1)]

    def at_least(self, other: Priority) -> bool:
        return self.rank <= other.rank

    @property
    def label(self) -> Label:
        return Label(PRIORITY_LABELS[self])


PRIORITY_LABELS: dict[Priority, str] = {
    Priority.CRITICAL: N_("critical"),
    Priority.HIGH: N_("high"),
    Priority.MEDIUM: N_("medium"),
    Priority.LOW: N_("low"),
}
