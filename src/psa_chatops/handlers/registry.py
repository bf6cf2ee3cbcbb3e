"""Which handler serves which command: one dict, read by the bus (cosmicpython's COMMAND_HANDLERS)."""

from __future__ import annotations

from psa_chatops.core import commands as c
from psa_chatops.handlers import alert_ingest, alerts, appointments, sla, tickets
from psa_chatops.handlers.alert_batching import AlertBatcher
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
    alert_ingest.IngestAlertBatch: alert_ingest.ingest_alert_batch,
    c.AcknowledgeAlert: alerts.acknowledge_alert,
    c.ClassifyAlert: alerts.classify_alert,
    c.EscalateAlert: alerts.escalate_alert,
    c.OpenAlertTicket: alerts.open_alert_ticket,
    c.IsolateDevice: alerts.isolate_device,
    c.ScheduleAppointment: appointments.schedule_appointment,
    c.RescheduleAppointment: appointments.reschedule_appointment,
    c.CancelAppointment: appointments.cancel_appointment,
}

ORCHESTRATORS: dict[type[c.Command], Orchestrator] = {
    c.CheckSlaBreaches: sla.check_sla_breaches,
}


def new_orchestrators() -> dict[type[c.Command], Orchestrator]:
    """Per bus: the alert batcher keeps the requests that wait for its next batch."""
    return {**ORCHESTRATORS, c.IngestAlert: AlertBatcher()}
