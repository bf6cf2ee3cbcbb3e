"""Which handler serves which command: one dict, read by the bus (cosmicpython's COMMAND_HANDLERS)."""

from __future__ import annotations

from psa_chatops.core import commands as c
from psa_chatops.handlers import sla, tickets
from psa_chatops.handlers.messagebus import Handler, Orchestrator

COMMAND_HANDLERS: dict[type[c.Command], Handler] = {
    c.OpenTicket: tickets.open_ticket,
    c.AssignTicket: tickets.assign_ticket,
    c.ChangeStatus: tickets.change_status,
    c.CloseTicket: tickets.close_ticket,
    c.AddNote: tickets.add_note,
    c.ChangePriority: tickets.change_priority,
    c.EscalateTicket: tickets.escalate_ticket,
    c.UpdateTicket: tickets.update_ticket,
    c.CheckTicketSla: sla.check_ticket_sla,
}

ORCHESTRATORS: dict[type[c.Command], Orchestrator] = {
    c.CheckSlaBreaches: sla.check_sla_breaches,
}
