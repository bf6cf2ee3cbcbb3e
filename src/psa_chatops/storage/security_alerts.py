"""Security alerts, vendor account mappings and severity overrides, on the unit of work's connection.

De-duplication rests on the unique ``(provider, alert_id)`` key: on SQLite the writer thread runs one unit of
work at a time, so the second copy of an alert finds the first; on PostgreSQL two copies racing through separate
transactions both try the insert, the second one waits for the first to commit and then fails the unique key,
which becomes a ``ConcurrencyError``, and the bus re-runs it on fresh state, where it is a duplicate. Correlation
takes a transaction-scoped advisory lock on PostgreSQL for the same reason (two alerts on one machine at once
must not open two tickets).

An alert without a ticket (``notify_only``) is announced with outbox rows that carry no ticket::

    {"event_id": "alert:<provider>:<alert_id>", "type": "AlertReceived", "number": null, "version": 0,
     "occurred_at", "actor", "correlation_id", "causation_id",
     "data": {"alert": {...AlertLink...}, "correlated": false}, "ticket": null, "alert": {...the record...}}
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from psa_chatops.core import alert_closeback as closeback
from psa_chatops.core.alert_triage import AlertRecord, host_names
from psa_chatops.core.alerts import AlertAction, AlertClassification, AlertSeverity, AlertStatus
from psa_chatops.core.directory import Asset, Customer
from psa_chatops.core.errors import N_, ConcurrencyError
from psa_chatops.core.events import AlertLink, AlertReceived, to_payload
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.tickets import Ticket
from psa_chatops.core.tickets_state import Source, Status
from psa_chatops.handlers.alert_ports import AlertFilter
from psa_chatops.handlers.ports import CommandContext, RecordedEvent
from psa_chatops.storage import mappers as m
from psa_chatops.storage import tables as t
from psa_chatops.storage.directory import SqlDirectory
from psa_chatops.storage.directory_writer import bump_version, customer_row
from psa_chatops.storage.outbox import RowStatus, idempotency_key
from psa_chatops.storage.tables import SqlConnection

ALERTS = t.table_of(t.SecurityAlertRow)
MAPPINGS = t.table_of(t.VendorAccountMappingRow)
OVERRIDES = t.table_of(t.AlertSeverityOverrideRow)
TICKETS = t.table_of(t.TicketRow)
ASSETS = t.table_of(t.AssetRow)
CUSTOMERS = t.table_of(t.CustomerRow)
POLICIES = t.table_of(t.SlaPolicyRow)
OUTBOX = t.table_of(t.OutboxRow)
TRIAGE_CUSTOMER_NAME = "Security triage"  # a directory record: admins may rename it
_DONE = [Status.RESOLVED.value, Status.CLOSED.value]
_GET = select(ALERTS).where(ALERTS.c.provider == bindparam("provider"), ALERTS.c.alert_id == bindparam("alert_id"))
_GET_MANY = select(ALERTS).where(ALERTS.c.alert_id.in_(bindparam("ids", expanding=True)))
_INSERT = insert(ALERTS)
_NEWEST_FIRST = (ALERTS.c.last_seen.desc(), ALERTS.c.id.desc())
_CANDIDATES = (
    select(*ALERTS.c, func.row_number().over(partition_by=ALERTS.c.correlation_key, order_by=_NEWEST_FIRST).label("n"))
    .join(TICKETS, TICKETS.c.number == ALERTS.c.ticket_number)
    .where(
        ALERTS.c.correlation_key.in_(bindparam("keys", expanding=True)),
        ALERTS.c.last_seen >= bindparam("since"),
        TICKETS.c.status.notin_(_DONE),
    )
    .subquery()
)
_CORRELATED = select(_CANDIDATES).where(_CANDIDATES.c.n == 1)  # the newest per key: a machine's storm stays one row
_MAPPING = select(MAPPINGS.c.customer_id).where(
    MAPPINGS.c.provider == bindparam("provider"), MAPPINGS.c.account == bindparam("account")
)
_OVERRIDES = select(OVERRIDES.c.severity, OVERRIDES.c.priority).where(OVERRIDES.c.customer_id == bindparam("customer"))
_CUSTOMER_ASSETS = select(ASSETS).where(ASSETS.c.customer_id == bindparam("customer"))
_COUNT_AGAIN = (
    update(ALERTS)
    .where(ALERTS.c.provider == bindparam("w_provider"), ALERTS.c.alert_id == bindparam("w_alert_id"))
    .values(
        count=ALERTS.c.count + 1,
        last_seen=case((ALERTS.c.last_seen < bindparam("seen_at"), bindparam("seen_at")), else_=ALERTS.c.last_seen),
        updated_by=bindparam("actor"),
    )
    .returning(*ALERTS.c)
)


def record_from_row(row: Any) -> AlertRecord:
    return AlertRecord(
        provider=row.provider,
        alert_id=row.alert_id,
        severity=AlertSeverity(row.severity),
        threat_type=row.threat_type,
        title=row.title,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        count=int(row.count),
        action=AlertAction(row.action),
        status=AlertStatus(row.status),
        customer_id=row.customer_id,
        ticket_number=row.ticket_number,
        affected_asset=row.affected_asset,
        asset_id=row.asset_id,
        vendor_account=row.vendor_account,
        customer_ref=row.customer_ref,
        classification=AlertClassification(row.classification) if row.classification else None,
        correlation_key=row.correlation_key,
        raw=row.raw or {},
        device_id=row.device_id,
    )


def record_to_row(record: AlertRecord) -> dict[str, Any]:
    return {
        "provider": record.provider,
        "alert_id": record.alert_id,
        "ticket_number": record.ticket_number,
        "customer_id": record.customer_id,
        "customer_ref": record.customer_ref,
        "vendor_account": record.vendor_account,
        "asset_id": record.asset_id,
        "affected_asset": record.affected_asset,
        "severity": record.severity.value,
        "threat_type": record.threat_type,
        "title": record.title,
        "first_seen": record.first_seen,
        "last_seen": record.last_seen,
        "count": record.count,
        "action": record.action.value,
        "status": record.status.value,
        "classification": record.classification.value if record.classification else None,
        "correlation_key": record.correlation_key,
        "raw": dict(record.raw),
        "device_id": record.device_id,
    }


def record_summary(record: AlertRecord) -> dict[str, Any]:
    """The alert as notifications and SIEM events carry it (without the raw vendor payload)."""
    row = record_to_row(record)
    row.pop("raw")
    row["first_seen"] = record.first_seen.isoformat()
    row["last_seen"] = record.last_seen.isoformat()
    return row


class AssetNames:
    """A customer's assets by lower-case name and hostname, full and short, for one dictionary look-up per alert."""

    def __init__(self, assets: list[Asset]) -> None:
        self.by_name: dict[str, list[Asset]] = {}
        for asset in assets:
            keys = {*host_names(asset.name), *host_names(asset.hostname)}
            for key in keys:
                self.by_name.setdefault(key, []).append(asset)

    def candidates(self, name: str) -> list[Asset]:
        full, short = host_names(name)
        found = {a.id: a for key in (full, short) for a in self.by_name.get(key, [])}
        return list(found.values())


class SqlAlertStore:
    """``AlertStore`` (``handlers.alert_ports``) inside one transaction. Mappings, severity overrides and asset
    names are reference data: cached with the directory (their writes bump its version), so an alert costs no
    query for them."""

    def __init__(
        self, conn: SqlConnection, *, dialect: str, context: Callable[[], CommandContext], directory: SqlDirectory
    ) -> None:
        self._conn, self._dialect, self._context, self._directory = conn, dialect, context, directory
        self._written: dict[tuple[str, str], AlertRecord] = {}  # as this transaction left them: no read-back

    async def get(self, provider: str, alert_id: str) -> AlertRecord | None:
        row = (await self._conn.execute(_GET, {"provider": provider, "alert_id": alert_id})).first()
        return None if row is None else record_from_row(row)

    async def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], AlertRecord]:
        """The stored ones among these ``(provider, alert_id)`` keys, in one query."""
        wanted = set(keys)
        if len(wanted) == 1:
            (key,) = wanted
            found = await self.get(*key)
            return {} if found is None else {key: found}
        if not wanted:
            return {}
        rows = (await self._conn.execute(_GET_MANY, {"ids": sorted({a for _, a in wanted})})).all()
        return {(r.provider, r.alert_id): record_from_row(r) for r in rows if (r.provider, r.alert_id) in wanted}

    async def insert(self, record: AlertRecord, *, actor: str) -> None:
        await self.insert_many([(record, actor)])

    async def insert_many(self, records: Sequence[tuple[AlertRecord, str]]) -> None:
        """New alerts, each with the actor that reported it, in one statement."""
        rows = [{**record_to_row(record), "created_by": actor, "updated_by": actor} for record, actor in records]
        try:
            await self._conn.execute(_INSERT, rows[0] if len(rows) == 1 else rows)
        except IntegrityError as exc:  # the same alert, committed by another transaction meanwhile
            raise ConcurrencyError(
                N_("Alert {id} arrived twice at the same moment; please try again."), id=records[0][0].alert_id
            ) from exc
        for record, _ in records:
            self._written[(record.provider, record.alert_id)] = record

    async def save(self, record: AlertRecord, *, actor: str) -> None:
        values = {**record_to_row(record), "updated_by": actor}
        stmt = update(ALERTS).where(ALERTS.c.provider == record.provider, ALERTS.c.alert_id == record.alert_id)
        await self._conn.execute(stmt.values(**values))
        self._written[(record.provider, record.alert_id)] = record

    async def upgrade(self, record: AlertRecord, *, actor: str) -> None:
        values = {**record_to_row(record), "updated_by": actor}
        stmt = update(ALERTS).where(
            ALERTS.c.provider == record.provider, ALERTS.c.alert_id == record.alert_id, ALERTS.c.ticket_number.is_(None)
        )
        if (await self._conn.execute(stmt.values(**values))).rowcount != 1:
            raise ConcurrencyError(
                N_("Alert {id} arrived twice at the same moment; please try again."), id=record.alert_id
            )
        self._written[(record.provider, record.alert_id)] = record

    async def count_again(self, provider: str, alert_id: str, *, seen_at: datetime, actor: str) -> AlertRecord:
        params = {"w_provider": provider, "w_alert_id": alert_id, "seen_at": seen_at, "actor": actor}
        record = record_from_row((await self._conn.execute(_COUNT_AGAIN, params)).one())
        self._written[(record.provider, record.alert_id)] = record
        return record

    async def correlated(self, correlation_key: str, *, since: datetime) -> AlertRecord | None:
        return (await self.correlated_many([correlation_key], since=since)).get(correlation_key)

    async def correlated_many(self, keys: Sequence[str], *, since: datetime) -> dict[str, AlertRecord]:
        """Per correlation key, the newest alert seen since ``since`` whose ticket is still open; one query."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        if self._dialect == "postgresql":  # serialise correlation per key until this transaction ends
            for key in wanted:  # in one order everywhere: two batches never wait for each other in a circle
                lock = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
                await self._conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
        rows = (await self._conn.execute(_CORRELATED, {"keys": wanted, "since": since})).all()
        return {row.correlation_key: record_from_row(row) for row in rows}

    async def for_ticket(self, number: int) -> list[AlertRecord]:
        stmt = select(ALERTS).where(ALERTS.c.ticket_number == number).order_by(ALERTS.c.first_seen, ALERTS.c.id)
        return [record_from_row(r) for r in (await self._conn.execute(stmt)).all()]

    async def find(self, query: AlertFilter) -> list[tuple[int, AlertRecord]]:
        stmt = select(ALERTS).order_by(ALERTS.c.id.desc()).limit(query.limit)
        if query.customer_ids is not None:
            stmt = stmt.where(ALERTS.c.customer_id.in_(list(query.customer_ids)))
        if query.triage is not None:
            stmt = stmt.where(ALERTS.c.customer_id.is_(None) if query.triage else ALERTS.c.customer_id.isnot(None))
        simple = {ALERTS.c.provider: query.provider, ALERTS.c.ticket_number: query.ticket_number}
        for column, value in simple.items():
            if value is not None:
                stmt = stmt.where(column == value)
        if query.statuses:
            stmt = stmt.where(ALERTS.c.status.in_(list(query.statuses)))
        if query.severities:
            stmt = stmt.where(ALERTS.c.severity.in_(list(query.severities)))
        if query.before_id is not None:
            stmt = stmt.where(ALERTS.c.id < query.before_id)
        return [(int(r.id), record_from_row(r)) for r in (await self._conn.execute(stmt)).all()]

    async def customer_for_account(self, provider: str, account: str) -> str | None:
        async def load() -> str | None:
            found = (await self._conn.execute(_MAPPING, {"provider": provider, "account": account})).scalar()
            return None if found is None else str(found)

        customer: str | None = await self._directory.cached(("alert_accounts", (provider, account)), load)
        return customer

    async def customer_exists(self, customer_id: str) -> bool:
        stmt = select(CUSTOMERS.c.id).where(CUSTOMERS.c.id == customer_id)
        return (await self._conn.execute(stmt)).first() is not None

    async def severity_overrides(self, customer_id: str) -> Mapping[AlertSeverity, Priority]:
        overrides: Mapping[AlertSeverity, Priority] = await self._directory.cached(
            ("alert_overrides", customer_id), lambda: get_overrides(self._conn, customer_id)
        )
        return overrides

    async def assets_named(self, customer_id: str, name: str) -> list[Asset]:
        async def load() -> AssetNames:
            rows = (await self._conn.execute(_CUSTOMER_ASSETS, {"customer": customer_id})).all()
            return AssetNames([m.asset_from_row(r) for r in rows])

        names: AssetNames = await self._directory.cached(("alert_assets", customer_id), load)
        return names.candidates(name) if name.strip() else []

    async def ensure_triage_customer(self, customer_id: str) -> bool:
        if await self.customer_exists(customer_id):
            return True
        policies = (await self._conn.execute(select(POLICIES.c.id).order_by(POLICIES.c.id))).scalars().all()
        if not policies:
            return False
        policy = "standard" if "standard" in policies else str(policies[0])
        customer = Customer(customer_id, TRIAGE_CUSTOMER_NAME, sla_policy_id=policy, locale="en")
        await self._conn.execute(insert(CUSTOMERS), customer_row(customer))
        await bump_version(self._conn)
        self._directory.forget((CUSTOMERS.name, customer_id))  # "does not exist" may be cached at this version
        return True

    async def announce(self, record: AlertRecord, *, priority: Priority, now: datetime) -> int:
        rules: list[RoutingRule] = await self._directory.routing_rules()
        destinations = list(
            dict.fromkeys(
                r.destination
                for r in rules
                if r.accepts(Category.ALERT, customer_id=record.customer_id, priority=priority)
            )
        )
        if not destinations:
            return 0
        payload = self._envelope(record, now)
        rows = [
            {
                "idempotency_key": idempotency_key(payload["event_id"], destination),
                "destination": destination,
                "event_type": "AlertReceived",
                "ticket_number": None,
                "payload": payload,
                "status": RowStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for destination in destinations
        ]
        await self._conn.execute(insert(OUTBOX), rows)
        return len(rows)

    async def envelope_extras(self, pending: Sequence[tuple[RecordedEvent, Ticket]]) -> dict[str, dict[str, Any]]:
        """For each alert event, the alert record as it stands (``"alert"``, as in a ticketless row's envelope)."""
        found: dict[str, dict[str, Any]] = {}
        for record, _ in pending:
            link = getattr(record.event, "alert", None)
            if isinstance(link, AlertLink):
                key = (link.provider, link.alert_id)
                alert = self._written.get(key) or await self.get(*key)
                if alert is not None:
                    found[record.event_id] = {"alert": record_summary(alert)}
        return found

    async def close_back(self, pending: Sequence[tuple[RecordedEvent, Ticket]], now: datetime) -> int:
        """Resolving or closing an alert ticket resolves its alerts here and at their source: one ``soc:<provider>``
        row per alert of a vendor with close-back (``core.alert_closeback``), in the same transaction."""
        rows: list[dict[str, Any]] = []
        for record, ticket in pending:
            if ticket.source is not Source.ALERT or not closeback.closes_ticket(record.event):
                continue
            for alert in await self.for_ticket(ticket.number):
                done = replace(alert, status=AlertStatus.RESOLVED, classification=closeback.verdict(alert))
                if done != alert:
                    await self.save(done, actor=record.actor)
                if closeback.closes_back(alert):
                    payload = closeback.soc_payload(
                        "resolve", alert.provider, alert.alert_id, classification=closeback.verdict(alert)
                    )
                    rows.append(_soc_row(f"{record.event_id}|{alert.alert_id}", alert, ticket.number, payload, now))
        if rows:
            await self._conn.execute(insert(OUTBOX), rows)
        return len(rows)

    async def isolate(self, record: AlertRecord, *, event_id: str, now: datetime) -> None:
        """The ``soc:<provider>`` row that asks the vendor to isolate the alert's device."""
        payload = closeback.soc_payload("isolate", record.provider, record.alert_id, device=record.device_id)
        await self._conn.execute(insert(OUTBOX), [_soc_row(event_id, record, record.ticket_number, payload, now)])

    def _envelope(self, record: AlertRecord, now: datetime) -> dict[str, Any]:
        ctx = self._context()
        link = to_payload_link(record)
        return {
            "event_id": f"alert:{record.provider}:{record.alert_id}",
            "type": "AlertReceived",
            "number": None,
            "version": 0,
            "occurred_at": now.isoformat(),
            "actor": ctx.actor.id,
            "correlation_id": ctx.correlation_id,
            "causation_id": ctx.causation_id,
            "data": {"alert": link, "correlated": False},
            "ticket": None,
            "alert": record_summary(record),
        }


def _soc_row(
    key: str, record: AlertRecord, ticket_number: int | None, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    destination = closeback.soc_destination(record.provider)
    return {
        "idempotency_key": idempotency_key(key, destination),
        "destination": destination,
        "event_type": closeback.EVENT_TYPE,
        "ticket_number": ticket_number,
        "payload": payload,
        "status": RowStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def to_payload_link(record: AlertRecord) -> dict[str, Any]:
    event = AlertReceived(number=0, occurred_at=record.last_seen, alert=record.link())
    link: dict[str, Any] = to_payload(event)["alert"]
    return link


# --- vendor account mappings and severity overrides (admin, outside the command path) ----------------------------


async def put_mapping(
    conn: SqlConnection, *, provider: str, account: str, customer_id: str, actor: str, now: datetime
) -> bool:
    """Create or repoint a mapping; True when it is new."""
    changed = await conn.execute(
        update(MAPPINGS)
        .where(MAPPINGS.c.provider == provider, MAPPINGS.c.account == account)
        .values(customer_id=customer_id, created_by=actor, created_at=now)
    )
    await bump_version(conn)  # mappings are cached with the directory
    if changed.rowcount:
        return False
    values = {"provider": provider, "account": account, "customer_id": customer_id, "created_by": actor}
    await conn.execute(insert(MAPPINGS).values(**values, created_at=now))
    return True


async def get_mapping(conn: SqlConnection, provider: str, account: str) -> Any | None:
    stmt = select(MAPPINGS).where(MAPPINGS.c.provider == provider, MAPPINGS.c.account == account)
    return (await conn.execute(stmt)).first()


async def list_mappings(
    conn: SqlConnection,
    *,
    provider: str | None = None,
    customer_ids: list[str] | None = None,
    after: tuple[str, str] | None = None,
    limit: int = 50,
) -> list[Any]:
    stmt = select(MAPPINGS).order_by(MAPPINGS.c.provider, MAPPINGS.c.account).limit(limit)
    if provider is not None:
        stmt = stmt.where(MAPPINGS.c.provider == provider)
    if customer_ids is not None:
        stmt = stmt.where(MAPPINGS.c.customer_id.in_(customer_ids))
    if after is not None:
        p, a = after
        stmt = stmt.where(or_(MAPPINGS.c.provider > p, and_(MAPPINGS.c.provider == p, MAPPINGS.c.account > a)))
    return list((await conn.execute(stmt)).all())


async def delete_mapping(conn: SqlConnection, provider: str, account: str) -> bool:
    stmt = delete(MAPPINGS).where(MAPPINGS.c.provider == provider, MAPPINGS.c.account == account)
    deleted = bool((await conn.execute(stmt)).rowcount)
    if deleted:
        await bump_version(conn)
    return deleted


async def put_overrides(
    conn: SqlConnection, customer_id: str, overrides: Mapping[AlertSeverity, Priority], *, actor: str, now: datetime
) -> None:
    """Replace the customer's overrides as a whole (an empty mapping restores the defaults)."""
    await bump_version(conn)  # overrides are cached with the directory
    await conn.execute(delete(OVERRIDES).where(OVERRIDES.c.customer_id == customer_id))
    rows = [
        {"customer_id": customer_id, "severity": s.value, "priority": p.value, "updated_by": actor, "updated_at": now}
        for s, p in overrides.items()
    ]
    if rows:
        await conn.execute(insert(OVERRIDES), rows)


async def alert_customer_exists(conn: SqlConnection, customer_id: str) -> bool:
    stmt = select(CUSTOMERS.c.id).where(CUSTOMERS.c.id == customer_id)
    return (await conn.execute(stmt)).first() is not None


async def get_overrides(conn: SqlConnection, customer_id: str) -> dict[AlertSeverity, Priority]:
    rows = (await conn.execute(_OVERRIDES, {"customer": customer_id})).all()
    return {AlertSeverity(r.severity): Priority(r.priority) for r in rows}
