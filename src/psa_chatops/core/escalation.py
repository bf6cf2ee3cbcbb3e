"""Escalation rules: which events escalate a ticket, and how (raise priority, page the dispatcher group)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from psa_chatops.core import events as ev
from psa_chatops.core.commands import EscalateTicket
from psa_chatops.core.priorities import Priority


class Trigger(StrEnum):
    SLA_BREACH = "sla_breach"
    CRITICAL_OPENED = "critical_opened"


@dataclass(frozen=True)
class EscalationRule:
    trigger: Trigger
    raise_priority: bool
    notify_dispatchers: bool


DEFAULT_RULES: tuple[EscalationRule, ...] = (
    EscalationRule(Trigger.SLA_BREACH, raise_priority=True, notify_dispatchers=True),
    EscalationRule(Trigger.CRITICAL_OPENED, raise_priority=False, notify_dispatchers=True),
)


def trigger_of(event: ev.Event) -> Trigger | None:
    if isinstance(event, ev.SlaBreached):
        return Trigger.SLA_BREACH
    if isinstance(event, ev.TicketOpened) and event.priority is Priority.CRITICAL:
        return Trigger.CRITICAL_OPENED
    return None


def escalations_for(event: ev.Event, rules: tuple[EscalationRule, ...] = DEFAULT_RULES) -> list[EscalateTicket]:
    trigger = trigger_of(event)
    return [
        EscalateTicket(
            number=event.number,
            reason=trigger.value,
            raise_priority=rule.raise_priority,
            notify_dispatchers=rule.notify_dispatchers,
        )
        for rule in rules
        if trigger is not None and rule.trigger is trigger
    ]
