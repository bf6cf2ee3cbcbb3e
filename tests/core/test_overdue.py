"""An overdue clock is due now, not at the next opening hour, when a priority change or a resume recomputes it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from psa_chatops.core import commands as c
from psa_chatops.core import ticket_decisions as decide
from psa_chatops.core.events import TicketPriorityChanged
from psa_chatops.core.priorities import Priority
from psa_chatops.core.sla import BusinessCalendar, SlaPolicy, SlaTarget, SlaTargetName
from psa_chatops.core.tickets import SlaContext, Ticket

CALENDAR = BusinessCalendar("Europe/Berlin", tuple([((time(8), time(17)),)] * 5 + [(), ()]))
POLICY = SlaPolicy("p", "p", {p: SlaTarget(timedelta(hours=1), timedelta(hours=2 + p.rank * 4)) for p in Priority})


def test_priority_raise_on_an_overdue_ticket_is_due_now_even_after_hours() -> None:
    ctx = SlaContext(POLICY, CALENDAR)
    opened = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # Friday 09:00 Berlin
    ticket = Ticket.replay(
        decide.open_ticket(
            c.OpenTicket(title="t", customer_id="C", priority=Priority.LOW), number=1, now=opened, sla=ctx
        )
    )
    evening = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)  # Friday 20:00 Berlin: 8 business hours elapsed
    [changed] = decide.change_priority(ticket, Priority.HIGH, now=evening, sla=ctx)
    assert isinstance(changed, TicketPriorityChanged)
    assert changed.sla[SlaTargetName.RESOLUTION].due_at == evening  # 6 h target, 8 h elapsed: overdue now
    low_again = decide.change_priority(ticket, Priority.MEDIUM, now=evening, sla=ctx)[0]
    assert isinstance(low_again, TicketPriorityChanged)
    assert low_again.sla[SlaTargetName.RESOLUTION].due_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 10 h: Mon 10:00
