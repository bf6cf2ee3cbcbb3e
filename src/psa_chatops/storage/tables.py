"""SQLModel tables. ``ticket_events`` is the source of truth; ``tickets`` and ``ticket_notes`` are projections of
it, written in the same transaction; ``outbox`` holds one row per (event, destination) until delivered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, LargeBinary, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

from psa_chatops.storage.types import UtcDateTime


def _json() -> Any:
    return Field(default=None, sa_type=JSON)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UtcDateTime, nullable=nullable, index=index)


class SlaPolicyRow(SQLModel, table=True):
    __tablename__ = "sla_policies"
    id: str = Field(primary_key=True, max_length=64)
    name: str
    targets: dict[str, list[float]] = _json()
    around_the_clock: list[str] = _json()


class CustomerRow(SQLModel, table=True):
    __tablename__ = "customers"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(index=True)
    email_domains: list[str] = _json()
    timezone: str = "Europe/Berlin"
    weekly_hours: list[list[list[str]]] = _json()
    holidays: list[str] = _json()
    sla_policy_id: str = Field(foreign_key="sla_policies.id")
    locale: str = "de"


class ContactRow(SQLModel, table=True):
    __tablename__ = "contacts"
    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True)
    name: str
    email: str = Field(unique=True)
    locale: str = "de"
    phone: str | None = None


class TechnicianRow(SQLModel, table=True):
    __tablename__ = "technicians"
    id: str = Field(primary_key=True, max_length=64)
    name: str
    email: str = Field(unique=True)
    role: str = "technician"
    customer_scope: list[str] | None = _json()
    locale: str = "en"
    timezone: str = "Europe/Berlin"


class AssetRow(SQLModel, table=True):
    __tablename__ = "assets"
    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True)
    name: str = Field(index=True)
    hostname: str = Field(index=True)
    type: str = "workstation"


class MaintenanceWindowRow(SQLModel, table=True):
    __tablename__ = "maintenance_windows"
    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True)
    title: str
    starts_at: datetime = _ts()
    ends_at: datetime = _ts()
    asset_ids: list[str] = _json()


class ActorLinkRow(SQLModel, table=True):
    """(channel, external user id) -> technician or contact."""

    __tablename__ = "actor_links"
    channel: str = Field(primary_key=True, max_length=32)
    external_id: str = Field(primary_key=True, max_length=255)
    kind: str = "technician"
    target_id: str
    linked_at: datetime = _ts()


class CounterRow(SQLModel, table=True):
    __tablename__ = "counters"
    name: str = Field(primary_key=True, max_length=64)
    value: int = Field(sa_type=BigInteger)


class TicketEventRow(SQLModel, table=True):
    __tablename__ = "ticket_events"
    __table_args__ = (UniqueConstraint("aggregate_id", "version", name="uq_ticket_events_aggregate_version"),)
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    aggregate_id: int = Field(sa_type=BigInteger)  # the unique (aggregate_id, version) key indexes it
    version: int
    type: str = Field(max_length=64)
    payload: dict[str, Any] = _json()
    actor: str = Field(max_length=255)
    correlation_id: str = Field(max_length=64, index=True)
    causation_id: str | None = Field(default=None, max_length=64)
    occurred_at: datetime = _ts()
    recorded_at: datetime = _ts()


class TicketRow(SQLModel, table=True):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_status_priority", "status", "priority"),)
    number: int = Field(primary_key=True, sa_type=BigInteger)
    title: str
    description: str
    customer_id: str = Field(index=True, max_length=64)
    contact_id: str | None = None
    asset_id: str | None = Field(default=None, index=True)
    priority: str = Field(max_length=16)
    status: str = Field(max_length=32)
    source: str = Field(max_length=16)
    assignee_id: str | None = Field(default=None, index=True)
    tags: list[str] = _json()
    resolution: str | None = None
    escalation_level: int = 0
    sla: dict[str, Any] = _json()
    first_response_due: datetime | None = _ts(nullable=True, index=True)
    resolution_due: datetime | None = _ts(nullable=True, index=True)
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    version: int


class TicketNoteRow(SQLModel, table=True):
    __tablename__ = "ticket_notes"
    ticket_number: int = Field(primary_key=True, sa_type=BigInteger)
    note_id: int = Field(primary_key=True)
    body: str
    visibility: str = Field(max_length=16)
    author_id: str
    created_at: datetime = _ts()


class RoutingRuleRow(SQLModel, table=True):
    __tablename__ = "routing_rules"
    id: int | None = Field(default=None, primary_key=True)
    destination: str = Field(max_length=512)
    categories: list[str] = _json()
    customer_id: str | None = None
    min_priority: str | None = None
    dispatchers: bool = False
    enabled: bool = True
    created_by: str
    created_at: datetime = _ts()


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_order", "destination", "ticket_number", "status", "id"),
    )
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    idempotency_key: str = Field(unique=True, max_length=64)
    destination: str = Field(max_length=512)
    event_type: str = Field(max_length=64)
    ticket_number: int | None = Field(default=None, sa_type=BigInteger, index=True)
    payload: dict[str, Any] = _json()
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _ts()
    claimed_until: datetime | None = _ts(nullable=True)
    last_error: str | None = None
    created_at: datetime = _ts()
    delivered_at: datetime | None = _ts(nullable=True)


class IdempotencyKeyRow(SQLModel, table=True):
    """Remembered responses for retried requests (Slack retries, REST ``Idempotency-Key``, e-mail Message-ID)."""

    __tablename__ = "idempotency_keys"
    scope: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    response: dict[str, Any] = _json()
    created_at: datetime = _ts()


class ApiKeyRow(SQLModel, table=True):
    """An API key: the public ``id`` (the key's prefix) finds the row, ``secret_hash`` (SHA-256 of the whole key,
    which carries 256 random bits) proves it. The key itself is shown once and never stored."""

    __tablename__ = "api_keys"
    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=128)
    secret_hash: str = Field(max_length=64)
    scopes: list[str] = _json()
    customer_ids: list[str] | None = _json()
    allowed_networks: list[str] | None = _json()
    sandbox: bool = False
    created_by: str = Field(max_length=255)
    created_at: datetime = _ts()
    expires_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)
    last_used_at: datetime | None = _ts(nullable=True)
    # HMAC key the client signs its requests with (seed 9.1); it must be verifiable, so it is kept, never logged
    signing_secret: str | None = Field(default=None, max_length=128)


class AuditLogRow(SQLModel, table=True):
    """Every write through the API, whoever made it and whatever came of it (refusals too)."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    occurred_at: datetime = _ts(index=True)
    actor: str = Field(max_length=255, index=True)
    method: str = Field(max_length=8)
    route: str = Field(max_length=255)
    path: str = Field(max_length=1024)
    status: int
    resource: str | None = Field(default=None, max_length=255, index=True)
    request_id: str = Field(max_length=64)
    client_ip: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] | None = _json()


class ChatThreadRow(SQLModel, table=True):
    """Where a ticket's conversation lives in a chat destination (Slack channel, Teams conversation): the root
    message that later events reply under and that is edited in place to show the ticket's current state."""

    __tablename__ = "chat_threads"
    destination: str = Field(primary_key=True, max_length=512)
    ticket_number: int = Field(primary_key=True, sa_type=BigInteger)
    root_id: str = Field(max_length=255)  # Slack: the root message's ts; Teams: the activity id
    conversation: str = Field(max_length=512)  # Slack channel id / Teams conversation id as the API wants it
    rendered_version: int = 0  # the ticket version the root shows; an older event never overwrites a newer root
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class SlackInstallationRow(SQLModel, table=True):
    """A workspace that installed the app through OAuth v2 (multi-workspace mode). The bot token is stored
    encrypted with the service's key (``PSA_ENCRYPTION_KEY``), never in clear."""

    __tablename__ = "slack_installations"
    team_id: str = Field(primary_key=True, max_length=32)
    enterprise_id: str | None = Field(default=None, max_length=32)
    team_name: str | None = Field(default=None, max_length=255)
    app_id: str | None = Field(default=None, max_length=32)
    bot_user_id: str = Field(max_length=32)
    bot_id: str | None = Field(default=None, max_length=32)
    bot_token_encrypted: str
    bot_scopes: list[str] = _json()
    installer_user_id: str | None = Field(default=None, max_length=32)
    installed_at: datetime = _ts()


class TeamsConversationRow(SQLModel, table=True):
    """A Teams conversation the bot was added to (``installationUpdate`` / ``conversationUpdate``): what a
    proactive message needs (the conversation reference), and whether customers read along there."""

    __tablename__ = "teams_conversations"
    conversation_id: str = Field(primary_key=True, max_length=512)
    service_url: str = Field(max_length=512)
    tenant_id: str | None = Field(default=None, max_length=64)
    conversation_type: str = Field(default="personal", max_length=32)  # personal | channel | groupChat
    team_id: str | None = Field(default=None, max_length=512)
    name: str | None = Field(default=None, max_length=255)
    customer_facing: bool = False
    reference: dict[str, Any] = _json()
    installed: bool = True
    updated_at: datetime = _ts()


class CalendarEventRow(SQLModel, table=True):
    """A maintenance window (or appointment) mirrored to a Microsoft 365 calendar: the Graph event id makes
    create/update/delete idempotent, the synced version tells whether the calendar is behind."""

    __tablename__ = "calendar_events"
    source: str = Field(primary_key=True, max_length=128)  # e.g. "maintenance_window:MW-1"
    calendar: str = Field(primary_key=True, max_length=255)  # the mailbox or group it lives in
    graph_event_id: str | None = Field(default=None, max_length=512)
    synced_hash: str | None = Field(default=None, max_length=64)  # what was last written, to skip no-op updates
    deleted: bool = False
    updated_at: datetime = _ts()


class CalendarFeedRow(SQLModel, table=True):
    """A customer's iCalendar feed: ``GET /calendar/{token}.ics``; the token is random and revocable."""

    __tablename__ = "calendar_feeds"
    token_hash: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(index=True, max_length=64)
    created_by: str = Field(max_length=255)
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class SecurityAlertRow(SQLModel, table=True):
    """One security alert per ``(provider, alert_id)``: the unique key is what makes de-duplication hold when
    the same alert arrives many times at once; a duplicate only bumps ``count`` and ``last_seen``."""

    __tablename__ = "security_alerts"
    __table_args__ = (
        UniqueConstraint("provider", "alert_id", name="uq_security_alerts_provider_alert"),
        Index("ix_security_alerts_correlation", "correlation_key", "last_seen"),
    )
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    provider: str = Field(max_length=64)
    alert_id: str = Field(max_length=255)
    ticket_number: int | None = Field(default=None, sa_type=BigInteger, index=True)
    customer_id: str | None = Field(default=None, max_length=64, index=True)  # None: no customer matched (triage)
    customer_ref: str | None = Field(default=None, max_length=255)  # what the sender named as customer
    vendor_account: str | None = Field(default=None, max_length=255)
    asset_id: str | None = Field(default=None, max_length=64)
    affected_asset: str | None = Field(default=None, max_length=255)
    severity: str = Field(max_length=16)
    threat_type: str = Field(max_length=128)
    title: str
    first_seen: datetime = _ts()
    last_seen: datetime = _ts(index=True)
    count: int = 1
    action: str = Field(max_length=16)
    status: str = Field(max_length=16, index=True)
    classification: str | None = Field(default=None, max_length=32)
    correlation_key: str | None = Field(default=None, max_length=255)
    raw: dict[str, Any] = _json()
    created_by: str = Field(max_length=255)
    updated_by: str = Field(max_length=255)
    device_id: str | None = Field(default=None, max_length=255)  # the vendor's device/agent id (isolation)


class VendorAccountMappingRow(SQLModel, table=True):
    """A vendor's site/tenant/account key -> our customer, per provider (how native alerts find their customer)."""

    __tablename__ = "vendor_account_mappings"
    provider: str = Field(primary_key=True, max_length=64)
    account: str = Field(primary_key=True, max_length=255)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    created_by: str = Field(max_length=255)
    created_at: datetime = _ts()


class AlertSeverityOverrideRow(SQLModel, table=True):
    """A customer's own severity -> priority mapping, one row per severity it changes."""

    __tablename__ = "alert_severity_overrides"
    customer_id: str = Field(primary_key=True, foreign_key="customers.id", max_length=64)
    severity: str = Field(primary_key=True, max_length=16)
    priority: str = Field(max_length=16)
    updated_by: str = Field(max_length=255)
    updated_at: datetime = _ts()


class AlertPollCursorRow(SQLModel, table=True):
    """Where each vendor poller stands (a watermark it wrote after its sink took the alerts), one row per provider."""

    __tablename__ = "alert_poll_cursors"
    provider: str = Field(primary_key=True, max_length=64)
    cursor: str
    updated_at: datetime = _ts()
    updated_by: str = Field(max_length=255)


class AppointmentRow(SQLModel, table=True):
    """On-site appointments: a projection of the ticket's ``Appointment*`` events (``core.appointments``), written
    in the same transaction; cancelled ones stay (status ``cancelled``) so the calendar sync can remove them."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_technician_starts", "technician_id", "starts_at"),)
    ticket_number: int = Field(primary_key=True, sa_type=BigInteger)
    appointment_id: int = Field(primary_key=True)
    customer_id: str = Field(max_length=64, index=True)
    technician_id: str = Field(max_length=64)
    starts_at: datetime = _ts(index=True)
    ends_at: datetime = _ts()
    location: str
    title: str
    notes: str = ""
    status: str = Field(max_length=16)
    cancel_reason: str | None = None
    created_by: str = Field(max_length=255)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    version: int = 1


# --- mail intake: processed messages, mailbox cursors, ticket attachments ---


class MailMessageRow(SQLModel, table=True):
    """Every inbound mail the intake decided on, keyed by its ``Message-ID`` (or ``sha256:`` of the raw bytes):
    written in the same transaction as the ticket or note it made, so a re-poll finds it and only marks it."""

    __tablename__ = "mail_messages"
    __table_args__ = (Index("ix_mail_messages_rate", "rate_key", "received_at"),)
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    message_key: str = Field(max_length=998, unique=True)
    mailbox: str = Field(max_length=255)
    outcome: str = Field(max_length=16)  # ticket, note, ignored, suppressed
    reason: str | None = Field(default=None, max_length=64)
    ticket_number: int | None = Field(default=None, sa_type=BigInteger, index=True)
    sender: str | None = Field(default=None, max_length=320)
    subject: str = ""
    rate_key: str | None = Field(default=None, max_length=64)  # sha256 of sender + normalised subject
    quote: str = ""  # what was stripped from the note, kept so nothing is lost
    signature: str = ""
    details: dict[str, Any] = _json()  # warnings, refused commands, attachment decisions
    received_at: datetime = _ts()
    created_by: str = Field(max_length=255)


class MailCursorRow(SQLModel, table=True):
    """Where a mailbox reader stands when the server keeps no state for us (Graph's delta link)."""

    __tablename__ = "mail_cursors"
    mailbox: str = Field(primary_key=True, max_length=255)
    cursor: str
    updated_at: datetime = _ts()
    updated_by: str = Field(max_length=255)


class TicketAttachmentRow(SQLModel, table=True):
    """A file that came with a ticket's mail; ``content`` is kept in the database up to the attachment policy's
    size limit (and only for allowed types), otherwise it is None and ``refused`` says why."""

    __tablename__ = "ticket_attachments"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    ticket_number: int = Field(sa_type=BigInteger, index=True)
    message_key: str = Field(max_length=998)
    name: str | None = None
    content_type: str = Field(max_length=255)
    size: int
    content_id: str | None = Field(default=None, max_length=998)
    inline: bool = False
    sha256: str | None = Field(default=None, max_length=64)
    content: bytes | None = Field(default=None, sa_type=LargeBinary)
    refused: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    created_by: str = Field(max_length=255)


# --- end mail intake ---

# --- outgoing mail: the Message-IDs we sent, so replies thread and intake finds the ticket ---


class MailSentRow(SQLModel, table=True):
    """One e-mail we sent: its ``Message-ID`` (without angle brackets), the ticket it was about (none for reports),
    the recipient and the event. Later mails about the ticket reference these ids; intake matches replies on them."""

    __tablename__ = "mail_sent"
    __table_args__ = (Index("ix_mail_sent_ticket_recipient", "ticket_number", "recipient", "sent_at"),)
    message_id: str = Field(primary_key=True, max_length=255)
    ticket_number: int | None = Field(default=None, sa_type=BigInteger)
    recipient: str = Field(max_length=320)
    event_type: str = Field(max_length=64)
    sent_at: datetime = _ts()


# --- end outgoing mail ---


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a model; Core statements are faster than ORM objects on the hot path."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


class SqlConnection(Protocol):
    """What repositories need of a connection: ``AsyncConnection`` and the SQLite writer's both fit."""

    async def execute(self, statement: Any, parameters: Any = None, /) -> Any: ...
