"""Security alerts through the API (seed 9.7): the intake (the seed's document and each vendor's own payload),
alert reads, vendor account mappings and per-customer severity mappings.

Intake answers 201 when the alert opened a ticket and 200 otherwise (a duplicate names the ticket it already
has; ``ignore`` is recorded, nothing sent). A vendor payload may hold several alerts: each is ingested on its own,
in the order given. Alert reads are not cached: a duplicate changes an alert's count without a ticket event, and
ticket events are what invalidates the response cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from psa_chatops.bot.api import directory, v1_resources
from psa_chatops.bot.api import security_models as sm
from psa_chatops.bot.api.operations import Call, Operation, Reply
from psa_chatops.bot.api.problems import ProblemError
from psa_chatops.core import commands as c
from psa_chatops.core.alert_triage import DEFAULT_PRIORITIES, provider_slug
from psa_chatops.core.alerts import AlertSeverity, AlertSignal
from psa_chatops.core.errors import N_, NotFoundError
from psa_chatops.core.priorities import Priority
from psa_chatops.handlers import actors, alert_queries, queries
from psa_chatops.handlers.alert_ports import AlertFilter
from psa_chatops.handlers.alert_views import AlertIngestView, AlertListView, AlertView
from psa_chatops.i18n import translate
from psa_chatops.integrations.security import AlertPayloadError, normalise
from psa_chatops.storage import security_alerts as store

ROOT = "/api/v1"
READ, WRITE, ADMIN = ("alerts:read",), ("alerts:write",), ("admin",)
NOT_FOUND = (401, 403, 404)


# --- presenters ---------------------------------------------------------------------------------------------------


def present_alert(view: AlertView) -> sm.Alert:
    return sm.Alert(
        provider=view.provider,
        alert_id=view.alert_id,
        severity=AlertSeverity(view.severity),
        threat_type=view.threat_type,
        title=view.title,
        status=view.status,
        action=view.action,
        count=view.count,
        first_seen=view.first_seen,
        last_seen=view.last_seen,
        priority=Priority(view.priority),
        triage=view.triage,
        customer_id=view.customer_id,
        customer_name=view.customer_name,
        customer_ref=view.customer_ref,
        vendor_account=view.vendor_account,
        affected_asset=view.affected_asset,
        asset_id=view.asset_id,
        asset=view.asset,
        ticket_number=view.ticket_number,
        classification=view.classification,
    )


def present_receipt(result: AlertIngestView) -> sm.AlertReceipt:
    from psa_chatops.bot.api import v1  # v1 registers this module's operations

    return sm.AlertReceipt(
        outcome=result.outcome,
        ticket_number=result.alert.ticket_number,
        alert=present_alert(result.alert),
        ticket=v1.present_ticket(result.ticket) if result.ticket is not None else None,
    )


def alert_path(provider: str, alert_id: str) -> str:
    return f"/security/alerts/{quote(provider, safe='')}/{quote(alert_id, safe='')}"


# --- intake -------------------------------------------------------------------------------------------------------


def to_signal(body: sm.AlertCreate) -> AlertSignal:
    return AlertSignal(
        provider=provider_slug(body.provider),
        alert_id=body.alert_id,
        severity=body.severity,
        threat_type=body.threat_type,
        title=body.title or "",
        affected_asset=body.affected_asset,
        customer_ref=body.customer_id,
        action=body.action,
        raw=body.model_dump(mode="json", exclude_none=True),
        description=body.description or "",
    )


async def ingest(call: Call, signal: AlertSignal) -> AlertIngestView:
    result: AlertIngestView = await call.bus.handle(c.IngestAlert(signal=signal), call.context)
    return result


async def post_alert(call: Call) -> Reply:
    result = await ingest(call, to_signal(call.body))
    if result.ticket is None and result.alert.ticket_number is not None:  # a duplicate: answer with its ticket
        number = result.alert.ticket_number
        ticket = await call.bus.read(lambda uow: queries.show_ticket(number, uow=uow, now=call.now()), call.context)
        result = replace(result, ticket=ticket)
    status = 201 if result.created else 200
    path = alert_path(result.alert.provider, result.alert.alert_id)
    headers = {"Location": ROOT + path} if status == 201 else {}
    resource = f"ticket:{result.alert.ticket_number}" if result.alert.ticket_number else f"alert:{path}"
    return Reply(present_receipt(result), status=status, headers=headers, resource=resource[:255])


async def post_vendor_payload(call: Call) -> Reply:
    provider: str = call.params.provider
    try:
        signals = normalise(provider, call.body.root)
    except AlertPayloadError as exc:
        errors = [{"loc": "body" + exc.pointer.replace("/", "."), "pointer": exc.pointer, "msg": exc.message}]
        raise ProblemError(422, "validation-error", detail=exc.message, errors=errors) from exc
    results = await asyncio.gather(*(ingest(call, signal) for signal in signals))  # written in one batch
    created = sum(1 for r in results if r.created)
    body = sm.AlertReceipts(items=[present_receipt(r) for r in results], created=created)
    return Reply(body, status=201 if created else 200, resource=f"alerts:{provider}")


# --- reads --------------------------------------------------------------------------------------------------------


def _many(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [str(v) for v in (value if isinstance(value, list) else [value])]


async def list_alerts(call: Call) -> Reply:
    p = call.params
    before = directory.decode_cursor(p.cursor, "alerts", call.locale, int)
    query = AlertFilter(
        customer_ids=[p.customer_id] if p.customer_id else None,
        provider=provider_slug(p.provider) if p.provider else None,
        statuses=_many(p.status),
        severities=_many(p.severity),
        ticket_number=p.ticket_number,
        triage=p.triage,
        before_id=before,
        limit=p.limit,
    )
    page: AlertListView = await call.bus.read(lambda uow: alert_queries.list_alerts(query, uow=uow), call.context)
    cursor = directory.encode_cursor("alerts", page.next_before) if page.next_before is not None else None
    body = sm.AlertPage(items=[present_alert(v) for v in page.alerts], next_cursor=cursor)
    return v1_resources.page_reply(call, body, cursor)


async def get_alert(call: Call) -> Reply:
    provider, alert_id = provider_slug(call.params.provider), call.params.alert_id
    view: AlertView = await call.bus.read(
        lambda uow: alert_queries.show_alert(provider, alert_id, uow=uow), call.context
    )
    return Reply(present_alert(view), resource=f"alert:{alert_path(provider, alert_id)}"[:255])


# --- vendor account mappings --------------------------------------------------------------------------------------


def present_mapping(row: Any) -> sm.Mapping:
    return sm.Mapping(
        provider=row.provider,
        account=row.account,
        customer_id=row.customer_id,
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def _known_customer(call: Call, customer_id: str, where: str) -> None:
    exists = await directory.read(call, lambda conn: store.alert_customer_exists(conn, customer_id))
    if not exists or not actors.can_see_customer(call.context.actor, customer_id):
        msg = translate(N_("Customer {id} does not exist."), call.locale, id=customer_id)
        raise ProblemError(
            422, "validation-error", detail=msg, errors=[{"loc": where, "msg": msg, "type": "value_error"}]
        )


async def put_mapping(call: Call) -> Reply:
    provider, account, customer_id = call.params.provider, call.params.account, call.body.customer_id
    await _known_customer(call, customer_id, "body.customer_id")
    now, actor = call.now(), call.context.actor.id
    created = await directory.write(
        call,
        lambda conn: store.put_mapping(
            conn, provider=provider, account=account, customer_id=customer_id, actor=actor, now=now
        ),
    )
    row = await directory.read(call, lambda conn: store.get_mapping(conn, provider, account))
    path = f"/security/mappings/{quote(provider, safe='')}/{quote(account, safe='')}"
    return v1_resources.record_reply(
        present_mapping(row), f"mapping:{provider}:{account}"[:255], status=201 if created else 200, location=path
    )


async def get_mapping(call: Call) -> Reply:
    row = await directory.read(call, lambda conn: store.get_mapping(conn, call.params.provider, call.params.account))
    if row is None:
        raise NotFoundError(N_("There is no mapping for {account}."), account=call.params.account)
    return Reply(present_mapping(row), resource=f"mapping:{row.provider}:{row.account}"[:255])


async def delete_mapping(call: Call) -> Reply:
    provider, account = call.params.provider, call.params.account
    if not await directory.write(call, lambda conn: store.delete_mapping(conn, provider, account)):
        raise NotFoundError(N_("There is no mapping for {account}."), account=account)
    return Reply(None, status=204, resource=f"mapping:{provider}:{account}"[:255])


async def list_mappings(call: Call) -> Reply:
    p = call.params
    last = directory.decode_cursor(p.cursor, "mappings", call.locale, str)
    after = tuple(last.split("\n", 1)) if last and "\n" in last else None
    rows = await directory.read(
        call,
        lambda conn: store.list_mappings(
            conn,
            provider=p.provider,
            customer_ids=actors.visible_customers(call.context.actor),
            after=after,  # type: ignore[arg-type]  # two parts, split above
            limit=p.limit + 1,
        ),
    )
    page = directory.paged(rows, p.limit, "mappings", lambda r: f"{r.provider}\n{r.account}")
    body = sm.MappingPage(items=[present_mapping(r) for r in page.items], next_cursor=page.next_cursor)
    return v1_resources.page_reply(call, body, page.next_cursor)


# --- severity -> priority per customer ----------------------------------------------------------------------------


def present_severity(customer_id: str, overrides: Mapping[AlertSeverity, Priority]) -> sm.SeverityMappingView:
    return sm.SeverityMappingView(
        customer_id=customer_id,
        mapping={s: overrides.get(s, DEFAULT_PRIORITIES[s]) for s in AlertSeverity},
        overrides=dict(overrides),
    )


async def get_severity_mapping(call: Call) -> Reply:
    customer_id = call.params.customer_id
    await _visible_customer(call, customer_id)
    overrides = await directory.read(call, lambda conn: store.get_overrides(conn, customer_id))
    return Reply(present_severity(customer_id, overrides), resource=f"severity-mapping:{customer_id}")


async def put_severity_mapping(call: Call) -> Reply:
    customer_id = call.params.customer_id
    await _visible_customer(call, customer_id)
    chosen = {AlertSeverity(k): Priority(v) for k, v in call.body.model_dump(exclude_none=True).items()}
    now, actor = call.now(), call.context.actor.id
    await directory.write(call, lambda conn: store.put_overrides(conn, customer_id, chosen, actor=actor, now=now))
    return Reply(present_severity(customer_id, chosen), resource=f"severity-mapping:{customer_id}")


async def _visible_customer(call: Call, customer_id: str) -> None:
    exists = await directory.read(call, lambda conn: store.alert_customer_exists(conn, customer_id))
    if not exists or not actors.can_see_customer(call.context.actor, customer_id):
        raise NotFoundError(N_("Customer {id} does not exist."), id=customer_id)


OPERATIONS = [
    Operation(
        "POST", "/security/alerts", "postSecurityAlert", "Report a security alert", "security", post_alert,
        scopes=WRITE, body=sm.AlertCreate, response=sm.AlertReceipt, status=201, also=(200,),
        errors=(400, 401, 403, 409, 422),
        description="The seed's document (9.7). 201 with the ticket number when the alert opened a ticket (in the "
        "customer's queue, or the triage queue when no customer matched); 200 when it joined an open ticket "
        "(same asset and threat within the correlation window), was a duplicate of a known alert (count and "
        "last seen updated, the existing ticket named), `notify_only` (announced, no ticket) or `ignore` "
        "(recorded, nothing sent). Keys with a signing secret must sign this request (see the API description).",
    ),
    Operation(
        "POST", "/security/providers/{provider}", "postVendorAlerts", "Report alerts in a vendor's own format",
        "security", post_vendor_payload, scopes=WRITE, params=sm.VendorKey, body=sm.VendorPayload,
        response=sm.AlertReceipts, status=201, also=(200,), errors=(400, 401, 403, 409, 422),
        description="RocketCyber, Barracuda XDR, SentinelOne or Microsoft Defender webhook/export payloads, "
        "normalised (vendor account -> customer through the mappings). 201 when any alert opened a ticket. "
        "A payload that does not fit is a 422 naming the JSON pointer of the field at fault.",
    ),
    Operation(
        "GET", "/security/alerts", "listSecurityAlerts", "List security alerts", "security", list_alerts,
        scopes=READ, params=sm.AlertListParams, response=sm.AlertPage, errors=(400, 401, 403),
        description="Newest first. `triage=true` lists the alerts no customer matched.",
    ),
    Operation(
        "GET", "/security/alerts/{provider}/{alert_id}", "getSecurityAlert", "Get a security alert", "security",
        get_alert, scopes=READ, params=sm.AlertKey, response=sm.Alert, errors=NOT_FOUND,
    ),
    Operation(
        "GET", "/security/mappings", "listVendorAccountMappings", "List vendor account mappings", "security",
        list_mappings, scopes=ADMIN, params=sm.MappingListParams, response=sm.MappingPage, errors=(400, 401, 403),
    ),
    Operation(
        "PUT", "/security/mappings/{provider}/{account}", "putVendorAccountMapping",
        "Map a vendor account to a customer", "security", put_mapping, scopes=ADMIN, params=sm.MappingKey,
        body=sm.MappingPut, response=sm.Mapping, status=201, also=(200,), errors=(401, 403, 422),
        description="A vendor's site, tenant or account key -> our customer; 201 when new, 200 when repointed.",
    ),
    Operation(
        "GET", "/security/mappings/{provider}/{account}", "getVendorAccountMapping", "Get a vendor account mapping",
        "security", get_mapping, scopes=ADMIN, params=sm.MappingKey, response=sm.Mapping, errors=NOT_FOUND,
    ),
    Operation(
        "DELETE", "/security/mappings/{provider}/{account}", "deleteVendorAccountMapping",
        "Delete a vendor account mapping", "security", delete_mapping, scopes=ADMIN, params=sm.MappingKey,
        status=204, errors=NOT_FOUND,
    ),
    Operation(
        "GET", "/security/severity-mappings/{customer_id}", "getSeverityMapping",
        "How a customer's alert severities map to ticket priorities", "security", get_severity_mapping,
        scopes=READ, params=sm.CustomerKey, response=sm.SeverityMappingView, errors=NOT_FOUND,
    ),
    Operation(
        "PUT", "/security/severity-mappings/{customer_id}", "putSeverityMapping",
        "Set a customer's severity -> priority mapping", "security", put_severity_mapping, scopes=ADMIN,
        params=sm.CustomerKey, body=sm.SeverityMapping, response=sm.SeverityMappingView,
        errors=(*NOT_FOUND, 422), description="Replaces the customer's overrides; severities left out use the "
        "defaults.",
    ),
]  # fmt: skip
