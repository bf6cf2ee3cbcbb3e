"""In-process reactions to committed events: they only return follow-up commands, the bus runs them."""

from __future__ import annotations

from psa_chatops.core.commands import Command
from psa_chatops.core.escalation import escalations_for
from psa_chatops.handlers.messagebus import Deps
from psa_chatops.handlers.ports import RecordedEvent


def escalate_on_breach(record: RecordedEvent, deps: Deps) -> list[Command]:
    """SLA breaches and critical tickets escalate according to the escalation rules."""
    return list(escalations_for(record.event, deps.escalation_rules))


REACTIONS = [escalate_on_breach]
