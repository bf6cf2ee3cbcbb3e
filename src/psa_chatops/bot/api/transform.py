"""The v1 -> v2 transformation layer: both versions run the same handlers and get the same views; only the way a
view becomes a response body differs. v2 embeds related records and writes SLA times as ISO 8601 durations."""

from __future__ import annotations

from psa_chatops.bot.api import v1
from psa_chatops.bot.api import v2_models as m2
from psa_chatops.bot.api.v1_models import SlaState
from psa_chatops.core.sla import SlaPolicy, SlaTargetName
from psa_chatops.handlers.views import SlaView, TicketSummaryView, TicketView


def iso_duration(seconds: float) -> str:
    """``PT4H30M``-style (hours are not folded into days: business days have no fixed length)."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return f"PT{text or '0S'}"


def _ref(key: str | None, name: str | None) -> m2.Ref | None:
    return m2.Ref(id=key, name=name or key) if key else None


def sla(view: SlaView) -> m2.SlaClock:
    return m2.SlaClock(
        target=SlaTargetName(view.target),
        state=SlaState(view.state),
        due_at=view.due_at,
        allowed=iso_duration(view.target_seconds),
        used=iso_duration(view.elapsed_seconds),
        remaining=iso_duration(view.target_seconds - view.elapsed_seconds),
        percent=view.percent,
    )


def ticket(view: TicketView, root: str) -> m2.Ticket:
    url = f"{root}/tickets/{view.number}"
    return m2.Ticket(
        number=view.number,
        title=view.title,
        description=view.description,
        status=view.status,
        priority=view.priority,
        source=view.source,
        customer=m2.Ref(id=view.customer_id, name=view.customer_name),
        contact=_ref(view.contact_id, view.contact),
        asset=_ref(view.asset_id, view.asset),
        assignee=_ref(view.assignee_id, view.assignee),
        tags=list(view.tags),
        resolution=view.resolution,
        escalation_level=view.escalation_level,
        sla=[sla(s) for s in view.sla],
        recent_notes=[v1.present_note(n) for n in view.notes],
        actions=list(view.actions),
        created_at=view.created_at,
        updated_at=view.updated_at,
        version=view.version,
        _links=m2.Links(self=url, notes=f"{url}/notes", events=f"{url}/events"),
    )


def summary(view: TicketSummaryView) -> m2.TicketSummary:
    return m2.TicketSummary(
        number=view.number,
        title=view.title,
        status=view.status,
        priority=view.priority,
        customer=m2.Ref(id=view.customer_id, name=view.customer_name),
        assignee=_ref(view.assignee_id, view.assignee),
        next_due_at=view.next_due_at,
        sla_state=view.sla_state,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


def sla_policy(policy: SlaPolicy) -> m2.SlaPolicy:
    targets = {
        priority.value: m2.SlaTarget(
            first_response=iso_duration(t.first_response.total_seconds()),
            resolution=iso_duration(t.resolution.total_seconds()),
        )
        for priority, t in policy.targets.items()
    }
    return m2.SlaPolicy(
        id=policy.id,
        name=policy.name,
        targets=m2.SlaPolicyTargets.model_validate(targets),
        around_the_clock=sorted(policy.around_the_clock, key=lambda p: p.rank),
    )
