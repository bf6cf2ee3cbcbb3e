"""API v1 beyond tickets: the directory, routing rules, admin resources and sandbox tokens, collected here so
``v1.build_api`` stays one line per group.

As for tickets: the version-agnostic modules (``directory``, ``routing``, ``admin``, ``sandbox``) return domain
records; this module turns v1 bodies into those records and presents the results in v1's schema
(``v1_directory_models``). Every collection pages with ``limit`` and an opaque ``cursor`` (``next_cursor`` in the
body and a ``Link: rel="next"`` header).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, time, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from psa_chatops.bot.api import admin, directory, routing, sandbox, windows
from psa_chatops.bot.api import v1_directory_models as dm
from psa_chatops.bot.api.directory import Kind, Page
from psa_chatops.bot.api.operations import Call, Handler, Operation, Reply
from psa_chatops.core import directory as d
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import RoutingRule
from psa_chatops.core.sla import BusinessCalendar, SlaPolicy, SlaTarget
from psa_chatops.handlers.directory_queries import WEEKDAYS
from psa_chatops.storage.api_keys import ApiKeyRecord
from psa_chatops.storage.directory import StoredRoutingRule
from psa_chatops.storage.outbox import DeliveryRecord

ROOT = "/api/v1"  # as v1.ROOT (which imports this module)
T = TypeVar("T", bound=directory.Record)
R = TypeVar("R")
Week = tuple[tuple[tuple[time, time], ...], ...]


# --- presenters: domain records -> v1 ------------------------------------------------------------------------------


def present_week(weekly: Week) -> dm.WeeklyHours:
    return dm.WeeklyHours.model_validate(
        {
            day: [{"opens": s.isoformat("minutes"), "closes": e.isoformat("minutes")} for s, e in intervals]
            for day, intervals in zip(WEEKDAYS, weekly, strict=True)
        }
    )


def present_customer(c: d.Customer) -> dm.Customer:
    return dm.Customer(
        id=c.id,
        name=c.name,
        email_domains=list(c.email_domains),
        timezone=c.calendar.timezone,
        weekly_hours=present_week(c.calendar.weekly),
        holidays=sorted(c.calendar.holidays),
        sla_policy_id=c.sla_policy_id,
        locale=c.locale,
    )


def present_contact(c: d.Contact) -> dm.Contact:
    return dm.Contact(id=c.id, customer_id=c.customer_id, name=c.name, email=c.email, locale=c.locale, phone=c.phone)


def present_technician(x: d.Technician) -> dm.Technician:
    return dm.Technician(
        id=x.id,
        name=x.name,
        email=x.email,
        role=x.role,
        customer_scope=sorted(x.customer_scope) if x.customer_scope is not None else None,
        locale=x.locale,
        timezone=x.timezone,
    )


def present_asset(a: d.Asset) -> dm.Asset:
    return dm.Asset(id=a.id, customer_id=a.customer_id, name=a.name, hostname=a.hostname, type=a.type)


def present_window(w: d.MaintenanceWindow) -> dm.MaintenanceWindow:
    return dm.MaintenanceWindow(
        id=w.id,
        customer_id=w.customer_id,
        title=w.title,
        starts_at=w.starts_at.astimezone(UTC),
        ends_at=w.ends_at.astimezone(UTC),
        asset_ids=list(w.asset_ids),
    )


def present_policy(p: SlaPolicy) -> dm.SlaPolicy:
    targets = {
        priority.value: {
            "first_response_seconds": int(t.first_response.total_seconds()),
            "resolution_seconds": int(t.resolution.total_seconds()),
        }
        for priority, t in p.targets.items()
    }
    return dm.SlaPolicy(
        id=p.id,
        name=p.name,
        targets=dm.SlaPolicyTargets.model_validate(targets),
        around_the_clock=sorted(p.around_the_clock, key=lambda x: x.rank),
    )


def present_rule(stored: StoredRoutingRule) -> dm.RoutingRule:
    rule = stored.rule
    return dm.RoutingRule(
        id=rule.id,
        destination=rule.destination,
        categories=sorted(rule.categories),
        customer_id=rule.customer_id,
        min_priority=rule.min_priority,
        dispatchers=rule.dispatchers,
        enabled=stored.enabled,
        created_by=stored.created_by,
        created_at=stored.created_at,
    )


def present_delivery(r: DeliveryRecord) -> dm.Delivery:
    return dm.Delivery(
        id=r.id,
        status=r.status,
        destination=r.destination,
        event_type=r.event_type,
        ticket_number=r.ticket_number,
        attempts=r.attempts,
        last_error=r.last_error,
        created_at=r.created_at,
        next_attempt_at=r.next_attempt_at,
        delivered_at=r.delivered_at,
    )


def present_delivery_detail(r: DeliveryRecord) -> dm.DeliveryDetail:
    return dm.DeliveryDetail(
        **present_delivery(r).model_dump(),
        idempotency_key=r.idempotency_key,
        claimed_until=r.claimed_until,
        payload=r.payload,
    )


def present_key(r: ApiKeyRecord, call: Call) -> dm.ApiKey:
    status = "revoked" if r.revoked_at is not None else ("active" if r.active(call.now()) else "expired")
    return dm.ApiKey(
        id=r.id,
        name=r.name,
        scopes=list(r.scopes),
        customer_ids=list(r.customer_ids) if r.customer_ids is not None else None,
        allowed_networks=list(r.allowed_networks) if r.allowed_networks is not None else None,
        sandbox=r.sandbox,
        signing=r.signing_secret is not None,
        status=status,
        created_by=r.created_by,
        created_at=r.created_at,
        expires_at=r.expires_at,
        revoked_at=r.revoked_at,
        last_used_at=r.last_used_at,
    )


# --- v1 bodies -> domain records ------------------------------------------------------------------------------------


def week_from(hours: dm.WeeklyHours) -> Week:
    return tuple(
        tuple((time.fromisoformat(h.opens), time.fromisoformat(h.closes)) for h in getattr(hours, day))
        for day in WEEKDAYS
    )


def new_customer(b: dm.CustomerCreate) -> d.Customer:
    weekly = week_from(b.weekly_hours) if b.weekly_hours is not None else BusinessCalendar().weekly
    calendar = BusinessCalendar(timezone=b.timezone, weekly=weekly, holidays=frozenset(b.holidays))
    domains = tuple(x.lower() for x in b.email_domains)
    return d.Customer(b.id, b.name, domains, calendar, b.sla_policy_id, b.locale)


def customer_change(b: dm.CustomerUpdate) -> Callable[[d.Customer], d.Customer]:
    changes = b.changes()
    calendar: dict[str, Any] = {}
    if "timezone" in changes:
        calendar["timezone"] = changes.pop("timezone")
    if "weekly_hours" in changes:
        calendar["weekly"] = week_from(b.weekly_hours or dm.WeeklyHours())
        del changes["weekly_hours"]
    if "holidays" in changes:
        calendar["holidays"] = frozenset(changes.pop("holidays"))
    if "email_domains" in changes:
        changes["email_domains"] = tuple(x.lower() for x in changes["email_domains"])
    return lambda c: replace(c, **changes, calendar=replace(c.calendar, **calendar))


def new_contact(b: dm.ContactCreate) -> d.Contact:
    return d.Contact(b.id, b.customer_id, b.name, b.email, b.locale, b.phone)


def new_technician(b: dm.TechnicianCreate) -> d.Technician:
    scope = frozenset(b.customer_scope) if b.customer_scope is not None else None
    return d.Technician(b.id, b.name, b.email, b.role, scope, b.locale, b.timezone)


def technician_change(b: dm.TechnicianUpdate) -> Callable[[d.Technician], d.Technician]:
    changes = b.changes()
    if "customer_scope" in changes and changes["customer_scope"] is not None:
        changes["customer_scope"] = frozenset(changes["customer_scope"])
    return lambda x: replace(x, **changes)


def new_asset(b: dm.AssetCreate) -> d.Asset:
    return d.Asset(b.id, b.customer_id, b.name, b.hostname, b.type)


def new_window(b: dm.MaintenanceWindowCreate) -> d.MaintenanceWindow:
    return d.MaintenanceWindow(b.id, b.customer_id, b.title, b.starts_at, b.ends_at, tuple(b.asset_ids))


def window_change(b: dm.MaintenanceWindowUpdate) -> Callable[[d.MaintenanceWindow], d.MaintenanceWindow]:
    changes = b.changes()
    if "asset_ids" in changes:
        changes["asset_ids"] = tuple(changes["asset_ids"])
    return lambda w: replace(w, **changes)


def targets_from(targets: dm.SlaTargets | dm.SlaTargetsUpdate) -> dict[Priority, SlaTarget]:
    out = {}
    for priority in Priority:
        given: dm.SlaTarget | None = getattr(targets, priority.value)
        if given is not None:
            out[priority] = SlaTarget(
                timedelta(seconds=given.first_response_seconds), timedelta(seconds=given.resolution_seconds)
            )
    return out


def new_policy(b: dm.SlaPolicyCreate) -> SlaPolicy:
    return SlaPolicy(b.id, b.name, targets_from(b.targets), frozenset(b.around_the_clock))


def policy_change(b: dm.SlaPolicyUpdate) -> Callable[[SlaPolicy], SlaPolicy]:
    changes = b.changes()
    if "around_the_clock" in changes:
        changes["around_the_clock"] = frozenset(changes["around_the_clock"])
    given = targets_from(changes.pop("targets")) if "targets" in changes else {}
    return lambda p: replace(p, **changes, targets={**p.targets, **given})


def same(record: T) -> T:
    return record


def new_rule(b: dm.RoutingRuleCreate) -> RoutingRule:
    return RoutingRule(0, b.destination, frozenset(b.categories), b.customer_id, b.min_priority, b.dispatchers)


def rule_change(b: dm.RoutingRuleUpdate) -> Callable[[StoredRoutingRule], StoredRoutingRule]:
    changes = b.changes()
    enabled = changes.pop("enabled", None)
    if "categories" in changes:
        changes["categories"] = frozenset(changes["categories"])

    def apply(stored: StoredRoutingRule) -> StoredRoutingRule:
        rule = replace(stored.rule, **changes)
        return replace(stored, rule=rule, enabled=stored.enabled if enabled is None else enabled)

    return apply


# --- replies --------------------------------------------------------------------------------------------------------


def page_reply(call: Call, body: BaseModel, next_cursor: str | None, tags: tuple[str, ...] = ()) -> Reply:
    headers = {}
    if next_cursor:
        headers["Link"] = f'<{call.request.rel_url.update_query(cursor=next_cursor)}>; rel="next"'
    return Reply(body, headers=headers, cache_tags=tags)


def record_reply(
    body: BaseModel, resource: str, *, status: int = 200, location: str | None = None, tags: tuple[str, ...] = ()
) -> Reply:
    headers = {"Location": f"{ROOT}{location}"} if status == 201 and location else {}
    return Reply(body, status=status, headers=headers, resource=resource, cache_tags=tags)


def items(page: Page[R], present: Callable[[R], Any]) -> list[Any]:
    return [present(r) for r in page.items]


# --- the directory: one handler per verb, parameterised by the collection ------------------------------------------


def list_handler(
    kind: Kind[T],
    present: Callable[[T], BaseModel],
    page_model: type[dm.Page],
    filters: Sequence[str] = (),
) -> Handler:
    async def handle(call: Call) -> Reply:
        p = call.params
        equals = {name: getattr(p, name) for name in filters}
        found = await directory.page(
            call, kind, limit=p.limit, cursor=p.cursor, equals=equals, text=getattr(p, "q", None)
        )
        body = page_model(items=items(found, present), next_cursor=found.next_cursor)
        return page_reply(call, body, found.next_cursor, (kind.plural,))

    return handle


def get_handler(kind: Kind[T], present: Callable[[T], BaseModel]) -> Handler:
    async def handle(call: Call) -> Reply:
        record = await directory.get(call, kind, call.params.id)
        return record_reply(present(record), f"{kind.name}:{record.id}", tags=kind.tags(record.id))

    return handle


def create_handler(kind: Kind[T], present: Callable[[T], BaseModel], build: Callable[[Any], T]) -> Handler:
    async def handle(call: Call) -> Reply:
        record = await directory.create(call, kind, build(call.body))
        resource = f"{kind.name}:{record.id}"
        return record_reply(present(record), resource, status=201, location=f"/{kind.plural}/{record.id}")

    return handle


def update_handler(
    kind: Kind[T], present: Callable[[T], BaseModel], change: Callable[[Any], Callable[[T], T]]
) -> Handler:
    async def handle(call: Call) -> Reply:
        record = await directory.update(call, kind, call.params.id, change(call.body))
        return record_reply(present(record), f"{kind.name}:{record.id}")

    return handle


def plain_change(body: dm.Patch) -> Callable[[T], T]:
    changes = body.changes()
    return lambda record: replace(record, **changes)  # type: ignore[type-var]


NOT_FOUND = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409, 422)


def _article(noun: str) -> str:
    """English article by sound: "an asset", "an SLA policy", "a customer"."""
    return "an" if noun[0].lower() in "aeiou" or noun.startswith("SLA") else "a"


def _stem(words: str) -> str:
    return "".join(w.capitalize() for w in words.split())


def directory_operations(
    kind: Kind[T],
    *,
    nouns: tuple[str, str],
    models: tuple[type[BaseModel], type[dm.Page], type[BaseModel], type[BaseModel]],
    present: Callable[[T], BaseModel],
    build: Callable[[Any], T],
    change: Callable[[Any], Callable[[T], T]],
    params: type[dm.ListParams] = dm.TextListParams,
    filters: Sequence[str] = (),
    write: tuple[str, ...] = ("directory:write",),
    description: str = "",
) -> list[Operation]:
    """The four operations of one directory collection, declared alike. ``nouns``: singular and plural."""
    (response, page_model, create_body, update_body), (one, many) = models, nouns
    path, read, tag = f"/{kind.plural}", ("directory:read",), kind.plural
    return [
        Operation(
            "GET", path, f"list{_stem(many)}", f"List {many}", tag, list_handler(kind, present, page_model, filters),
            scopes=read, params=params, response=page_model, cacheable=True, errors=(400, 401, 403),
            description=description,
        ),
        Operation(
            "POST", path, f"create{_stem(one)}", f"Create {_article(one)} {one}", tag,
            create_handler(kind, present, build),
            scopes=write, body=create_body, response=response, status=201, errors=WRITE_ERRORS,
            description="The id is yours to choose; a taken one is a 409.",
        ),
        Operation(
            "GET", f"{path}/{{id}}", f"get{_stem(one)}", f"Get {_article(one)} {one}", tag, get_handler(kind, present),
            scopes=read, params=dm.RecordKey, response=response, cacheable=True, errors=NOT_FOUND,
        ),
        Operation(
            "PATCH", f"{path}/{{id}}", f"update{_stem(one)}", f"Change a {one}", tag,
            update_handler(kind, present, change), scopes=write, params=dm.RecordKey, body=update_body,
            response=response, errors=WRITE_ERRORS, description="Only the fields you send change.",
        ),
    ]  # fmt: skip


async def delete_window(call: Call) -> Reply:
    await windows.delete(call, call.params.id)
    return Reply(None, status=204, resource=f"{directory.WINDOWS.name}:{call.params.id}")


DIRECTORY = [
    *directory_operations(
        directory.CUSTOMERS, nouns=("customer", "customers"),
        present=present_customer, build=new_customer, change=customer_change,
        models=(dm.Customer, dm.CustomerPage, dm.CustomerCreate, dm.CustomerUpdate),
        description="`q` searches the id and name. A key limited to some customers lists only those.",
    ),
    *directory_operations(
        directory.CONTACTS, nouns=("contact", "contacts"),
        present=present_contact, build=new_contact, change=plain_change,
        models=(dm.Contact, dm.ContactPage, dm.ContactCreate, dm.ContactUpdate),
        params=dm.ContactListParams, filters=("customer_id",), description="`q` searches the name and e-mail.",
    ),
    *directory_operations(
        directory.TECHNICIANS, nouns=("technician", "technicians"),
        present=present_technician, build=new_technician, change=technician_change,
        models=(dm.Technician, dm.TechnicianPage, dm.TechnicianCreate, dm.TechnicianUpdate),
        params=dm.TechnicianListParams, filters=("role",),
        description="Keys limited to some customers read technicians but cannot change them.",
    ),
    *directory_operations(
        directory.ASSETS, nouns=("asset", "assets"),
        present=present_asset, build=new_asset, change=plain_change,
        models=(dm.Asset, dm.AssetPage, dm.AssetCreate, dm.AssetUpdate),
        params=dm.AssetListParams, filters=("customer_id", "type"), description="`q` searches the name and hostname.",
    ),
    *directory_operations(
        directory.WINDOWS, nouns=("maintenance window", "maintenance windows"),
        present=present_window, build=new_window, change=window_change,
        models=(dm.MaintenanceWindow, dm.MaintenanceWindowPage, dm.MaintenanceWindowCreate,
                dm.MaintenanceWindowUpdate),
        params=dm.MaintenanceWindowListParams, filters=("customer_id",),
        description="Planned maintenance of a customer, for all its assets or the ones listed.",
    ),
    Operation(
        "DELETE", "/maintenance-windows/{id}", "deleteMaintenanceWindow", "Delete a maintenance window",
        "maintenance-windows", delete_window, scopes=("directory:write",), params=dm.RecordKey, status=204,
        errors=NOT_FOUND,
        description="With a Microsoft 365 calendar configured, its calendar entry is removed as well (queued in the "
        "same transaction).",
    ),
    *directory_operations(
        directory.POLICIES, nouns=("SLA policy", "SLA policies"),
        present=present_policy, build=new_policy, change=policy_change,
        models=(dm.SlaPolicy, dm.SlaPolicyPage, dm.SlaPolicyCreate, dm.SlaPolicyUpdate),
        params=dm.ListParams, write=("admin",),
        description="Targets are whole seconds of business time per priority (v1). Changes need the admin scope.",
    ),
]  # fmt: skip


# --- routing rules --------------------------------------------------------------------------------------------------


def rule_reply(stored: StoredRoutingRule, *, status: int = 200) -> Reply:
    rule_id = stored.rule.id
    resource = f"{routing.LABEL}:{rule_id}"
    return record_reply(
        present_rule(stored), resource, status=status, location=f"/routing-rules/{rule_id}", tags=routing.tags(rule_id)
    )


async def list_rules(call: Call) -> Reply:
    p = call.params
    found = await routing.search(
        call, limit=p.limit, cursor=p.cursor, customer_id=p.customer_id, enabled=p.enabled, text=p.q
    )
    body = dm.RoutingRulePage(items=items(found, present_rule), next_cursor=found.next_cursor)
    return page_reply(call, body, found.next_cursor, (routing.COLLECTION_TAG,))


async def get_rule(call: Call) -> Reply:
    return rule_reply(await routing.get(call, call.params.id))


async def create_rule(call: Call) -> Reply:
    return rule_reply(await routing.create(call, new_rule(call.body), enabled=call.body.enabled), status=201)


async def update_rule(call: Call) -> Reply:
    return rule_reply(await routing.update(call, call.params.id, rule_change(call.body)))


async def delete_rule(call: Call) -> Reply:
    await routing.delete(call, call.params.id)
    return Reply(None, status=204, resource=f"{routing.LABEL}:{call.params.id}")


# --- deliveries -----------------------------------------------------------------------------------------------------


async def list_deliveries(call: Call) -> Reply:
    p = call.params
    found = await admin.deliveries(
        call,
        limit=p.limit,
        cursor=p.cursor,
        status=p.status,
        destination=p.destination,
        ticket_number=p.ticket_number,
    )
    body = dm.DeliveryPage(items=items(found, present_delivery), next_cursor=found.next_cursor)
    return page_reply(call, body, found.next_cursor)


async def get_delivery(call: Call) -> Reply:
    found = await admin.delivery(call, call.params.id)
    return record_reply(present_delivery_detail(found), f"{admin.DELIVERY}:{found.id}")


async def replay_delivery(call: Call) -> Reply:
    found = await admin.replay(call, call.params.id)
    return record_reply(present_delivery_detail(found), f"{admin.DELIVERY}:{found.id}")


async def replay_deliveries(call: Call) -> Reply:
    count = await admin.replay_dead(call)
    return Reply(dm.ReplayResult(replayed=count), resource=f"{admin.DELIVERY}:status={call.body.status}")


# --- API keys -------------------------------------------------------------------------------------------------------


async def list_keys(call: Call) -> Reply:
    found = await admin.api_keys_page(call, limit=call.params.limit, cursor=call.params.cursor)
    body = dm.ApiKeyPage(items=[present_key(r, call) for r in found.items], next_cursor=found.next_cursor)
    return page_reply(call, body, found.next_cursor)


async def get_key(call: Call) -> Reply:
    found = await admin.api_key(call, call.params.id)
    return record_reply(present_key(found, call), f"{admin.API_KEY}:{found.id}")


async def create_key(call: Call) -> Reply:
    b = call.body
    created = await admin.create_api_key(
        call,
        name=b.name,
        scopes=b.scopes,
        customer_ids=b.customer_ids,
        allowed_networks=b.allowed_networks,
        expires_at=b.expires_at,
        signing=b.signing_secret,
    )
    record = created.record
    shown = present_key(record, call).model_dump()
    body = dm.ApiKeyCreated(**shown, key=created.secret, signing_secret=record.signing_secret)
    reply = record_reply(body, f"{admin.API_KEY}:{record.id}", status=201, location=f"/api-keys/{record.id}")
    reply.headers["Cache-Control"] = "no-store"
    return reply


async def revoke_key(call: Call) -> Reply:
    await admin.revoke_api_key(call, call.params.id)
    return Reply(None, status=204, resource=f"{admin.API_KEY}:{call.params.id}")


async def rotate_signing_secret(call: Call) -> Reply:
    record, secret = await admin.rotate_signing_secret(call, call.params.id)
    body = dm.ApiKeySigningSecret(**present_key(record, call).model_dump(), signing_secret=secret)
    return Reply(body, headers={"Cache-Control": "no-store"}, resource=f"{admin.API_KEY}:{record.id}")


async def remove_signing_secret(call: Call) -> Reply:
    await admin.remove_signing_secret(call, call.params.id)
    return Reply(None, status=204, resource=f"{admin.API_KEY}:{call.params.id}")


# --- sandbox --------------------------------------------------------------------------------------------------------


async def create_sandbox_token(call: Call) -> Reply:
    created = await sandbox.issue(call)
    record = created.record
    body = dm.SandboxToken(
        key=created.secret,
        id=record.id,
        scopes=list(record.scopes),
        expires_at=record.expires_at or call.now(),
        docs=sandbox.DOCS,
    )
    return Reply(body, status=201, headers={"Cache-Control": "no-store"}, resource=f"{admin.API_KEY}:{record.id}")


ROUTING_READ, ROUTING_WRITE, ADMIN = ("routing:read",), ("routing:write",), ("admin",)
ROUTING = [
    Operation(
        "GET", "/routing-rules", "listRoutingRules", "List routing rules", "routing-rules", list_rules,
        scopes=ROUTING_READ, params=dm.RoutingRuleListParams, response=dm.RoutingRulePage, cacheable=True,
        errors=(400, 401, 403), description="Which destinations hear which ticket events. `q` searches destinations.",
    ),
    Operation(
        "POST", "/routing-rules", "createRoutingRule", "Create a routing rule", "routing-rules", create_rule,
        scopes=ROUTING_WRITE, body=dm.RoutingRuleCreate, response=dm.RoutingRule, status=201, errors=WRITE_ERRORS,
        description="Destinations: `slack:<channel id>`, `teams:<conversation id>`, `webhook:https://...` "
        "(plain http only to localhost) or `email:<address>`. One enabled rule per destination (409 otherwise).",
    ),
    Operation(
        "GET", "/routing-rules/{id}", "getRoutingRule", "Get a routing rule", "routing-rules", get_rule,
        scopes=ROUTING_READ, params=dm.NumberKey, response=dm.RoutingRule, cacheable=True, errors=NOT_FOUND,
    ),
    Operation(
        "PATCH", "/routing-rules/{id}", "updateRoutingRule", "Change a routing rule", "routing-rules", update_rule,
        scopes=ROUTING_WRITE, params=dm.NumberKey, body=dm.RoutingRuleUpdate, response=dm.RoutingRule,
        errors=WRITE_ERRORS, description="Only the fields you send change; `enabled: false` pauses a rule.",
    ),
    Operation(
        "DELETE", "/routing-rules/{id}", "deleteRoutingRule", "Delete a routing rule", "routing-rules", delete_rule,
        scopes=ROUTING_WRITE, params=dm.NumberKey, status=204, errors=NOT_FOUND,
    ),
]  # fmt: skip

ADMINISTRATION = [
    Operation(
        "GET", "/deliveries", "listDeliveries", "List deliveries (the outbox)", "deliveries", list_deliveries,
        scopes=ADMIN, params=dm.DeliveryListParams, response=dm.DeliveryPage, errors=(400, 401, 403),
        description="Newest first. `status`: pending, delivered, recorded (sandbox) or dead.",
    ),
    Operation(
        "POST", "/deliveries/replay", "replayDeliveries", "Replay every dead delivery", "deliveries",
        replay_deliveries, scopes=ADMIN, body=dm.DeliveryReplay, response=dm.ReplayResult, errors=(401, 403, 422),
    ),
    Operation(
        "GET", "/deliveries/{id}", "getDelivery", "Inspect a delivery", "deliveries", get_delivery,
        scopes=ADMIN, params=dm.NumberKey, response=dm.DeliveryDetail, errors=NOT_FOUND,
        description="With its payload, attempts and last error.",
    ),
    Operation(
        "POST", "/deliveries/{id}/replay", "replayDelivery", "Replay a delivery", "deliveries", replay_delivery,
        scopes=ADMIN, params=dm.NumberKey, response=dm.DeliveryDetail, errors=(*NOT_FOUND, 409),
        description="Queues a delivered, recorded or dead row again; receivers drop duplicates by its "
        "Idempotency-Key. A pending row is a 409.",
    ),
    Operation(
        "GET", "/api-keys", "listApiKeys", "List API keys", "api-keys", list_keys,
        scopes=ADMIN, params=dm.ListParams, response=dm.ApiKeyPage, errors=(400, 401, 403),
        description="Never shows a key's secret (only its hash is stored).",
    ),
    Operation(
        "POST", "/api-keys", "createApiKey", "Create an API key", "api-keys", create_key,
        scopes=ADMIN, body=dm.ApiKeyCreate, response=dm.ApiKeyCreated, status=201, errors=(400, 401, 403, 422),
        description="The response carries the key (`key`) once; it cannot be shown again. With "
        "`signing_secret: true` it also carries a request-signing secret (`signing_secret`), likewise once: the "
        "key's POSTs and requests under `/security/` must then be signed (see Request signing).",
    ),
    Operation(
        "GET", "/api-keys/{id}", "getApiKey", "Get an API key", "api-keys", get_key,
        scopes=ADMIN, params=dm.ApiKeyKey, response=dm.ApiKey, errors=NOT_FOUND,
    ),
    Operation(
        "DELETE", "/api-keys/{id}", "revokeApiKey", "Revoke an API key", "api-keys", revoke_key,
        scopes=ADMIN, params=dm.ApiKeyKey, status=204, errors=NOT_FOUND,
        description="Takes effect at once on this server and within 30 seconds on the others.",
    ),
    Operation(
        "POST", "/api-keys/{id}/signing-secret", "rotateApiKeySigningSecret", "Give an API key a new signing secret",
        "api-keys", rotate_signing_secret, scopes=ADMIN, params=dm.ApiKeyKey, response=dm.ApiKeySigningSecret,
        errors=NOT_FOUND,
        description="The response carries the new secret (`signing_secret`) once; it cannot be shown again. The old "
        "secret is refused at once on this server and within 30 seconds on the others. A key without a secret gets "
        "one: from then on its POSTs and requests under `/security/` must be signed (see Request signing).",
    ),
    Operation(
        "DELETE", "/api-keys/{id}/signing-secret", "deleteApiKeySigningSecret", "Remove an API key's signing secret",
        "api-keys", remove_signing_secret, scopes=ADMIN, params=dm.ApiKeyKey, status=204, errors=NOT_FOUND,
        description="The key's requests need no signature any more: at once on this server, within 30 seconds on "
        "the others.",
    ),
    Operation(
        "POST", "/sandbox/tokens", "createSandboxToken", "Get a sandbox developer token", "sandbox",
        create_sandbox_token, public=True, response=dm.SandboxToken, status=201, errors=(404,),
        description="Sandbox mode only: a key for the demo data, valid for 24 hours; a few per hour per address.",
    ),
]  # fmt: skip

OPERATIONS: list[Operation] = [*DIRECTORY, *ROUTING, *ADMINISTRATION]
