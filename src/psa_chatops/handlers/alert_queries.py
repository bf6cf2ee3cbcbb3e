"""The read side of security alerts: one alert, a ticket's alerts, and pages of alerts, as ``AlertView``s.

Visibility follows the tickets': an actor sees the alerts of the customers it sees; alerts in the triage queue
(no customer matched) only actors that see every customer, since they may belong to anyone.
"""

from __future__ import annotations

from collections.abc import Mapping

from psa_chatops.core.alert_closeback import can_isolate
from psa_chatops.core.alert_triage import AlertRecord, priority_for
from psa_chatops.core.alerts import AlertSeverity, AlertStatus
from psa_chatops.core.directory import Role
from psa_chatops.core.errors import N_, NotFoundError
from psa_chatops.core.priorities import Priority
from psa_chatops.handlers import actors
from psa_chatops.handlers.alert_ports import AlertFilter
from psa_chatops.handlers.alert_views import AlertListView, AlertView
from psa_chatops.handlers.ports import Actor, UnitOfWork


def can_see_alert(actor: Actor, record: AlertRecord) -> bool:
    if record.customer_id is None:
        return actors.visible_customers(actor) is None
    return actors.can_see_customer(actor, record.customer_id)


def alert_actions(actor: Actor, record: AlertRecord) -> tuple[str, ...]:
    """The card buttons for this actor: Acknowledge, Assign to me, Create ticket, Escalate to SOC, Mark false
    positive and (admins, with a confirmation) Isolate device."""
    if not actors.acts_as_technician(actor) or record.status in (AlertStatus.RESOLVED, AlertStatus.IGNORED):
        return ()
    found: list[str] = []
    if record.ticket_number is None:
        found.append("create_ticket")
    else:
        if record.status is AlertStatus.NEW:
            found.append("acknowledge")
        found.append("assign_to_me")
        if record.status is not AlertStatus.ESCALATED:
            found.append("escalate")
        found.append("false_positive")
    admin = actor.technician is not None and actor.technician.role is Role.ADMIN
    if admin and can_isolate(record):
        found.append("isolate")
    return tuple(found)


async def alert_view(
    uow: UnitOfWork, record: AlertRecord, *, overrides: Mapping[AlertSeverity, Priority] | None = None
) -> AlertView:
    customer_name = asset_name = None
    if record.customer_id is not None:
        try:
            customer_name = (await uow.directory.customer(record.customer_id)).name
        except NotFoundError:
            customer_name = record.customer_id
        if overrides is None:
            overrides = await uow.alerts.severity_overrides(record.customer_id)
    if record.asset_id is not None:
        try:
            asset_name = (await uow.directory.asset(record.asset_id)).name
        except NotFoundError:  # a deleted asset shows its id rather than failing the card
            asset_name = record.asset_id
    return AlertView(
        provider=record.provider,
        alert_id=record.alert_id,
        severity=record.severity.value,
        threat_type=record.threat_type,
        title=record.title,
        status=record.status.value,
        action=record.action.value,
        count=record.count,
        first_seen=record.first_seen,
        last_seen=record.last_seen,
        priority=priority_for(record.severity, overrides).value,
        customer_id=record.customer_id,
        customer_name=customer_name,
        customer_ref=record.customer_ref,
        vendor_account=record.vendor_account,
        affected_asset=record.affected_asset,
        asset_id=record.asset_id,
        asset=asset_name,
        ticket_number=record.ticket_number,
        classification=record.classification.value if record.classification else None,
        actions=alert_actions(uow.context.actor, record),
    )


async def load_alert(uow: UnitOfWork, provider: str, alert_id: str) -> AlertRecord:
    record = await uow.alerts.get(provider, alert_id)
    if record is None or not can_see_alert(uow.context.actor, record):
        raise NotFoundError(N_("Alert {id} of {provider} does not exist."), id=alert_id, provider=provider)
    return record


async def show_alert(provider: str, alert_id: str, *, uow: UnitOfWork) -> AlertView:
    async with uow:
        return await alert_view(uow, await load_alert(uow, provider, alert_id))


async def ticket_alerts(number: int, *, uow: UnitOfWork) -> tuple[AlertView, ...]:
    """The alerts filed on a ticket, oldest first (the first opened it, the others were correlated)."""
    async with uow:
        actors.ensure_sees_ticket(uow.context.actor, await uow.tickets.get(number))
        records = await uow.alerts.for_ticket(number)
        return tuple([await alert_view(uow, r) for r in records if can_see_alert(uow.context.actor, r)])


async def list_alerts(query: AlertFilter, *, uow: UnitOfWork) -> AlertListView:
    """Newest first; narrowed to the customers the actor sees (the triage queue only for the unscoped)."""
    visible = actors.visible_customers(uow.context.actor)
    if visible is not None:
        wanted = visible if query.customer_ids is None else [c for c in query.customer_ids if c in visible]
        query = AlertFilter(**{**query.__dict__, "customer_ids": wanted, "triage": False})
    async with uow:
        rows = await uow.alerts.find(query)
        cache: dict[str, Mapping[AlertSeverity, Priority]] = {}
        views = []
        for _, record in rows:
            if record.customer_id is not None and record.customer_id not in cache:
                cache[record.customer_id] = await uow.alerts.severity_overrides(record.customer_id)
            views.append(await alert_view(uow, record, overrides=cache.get(record.customer_id or "", {})))
    more = len(rows) == query.limit and rows
    return AlertListView(tuple(views), rows[-1][0] if more else None)
