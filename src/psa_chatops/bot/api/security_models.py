"""API v1 bodies for security alerts (seed 9.7): the intake document, alerts, vendor account mappings and the
per-customer severity mapping. The OpenAPI document is generated from these same models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from psa_chatops.bot.api.v1_models import Strict, Ticket
from psa_chatops.core.alerts import AlertAction, AlertClassification, AlertSeverity, AlertStatus
from psa_chatops.core.priorities import Priority
from psa_chatops.integrations.security import PROVIDERS

VendorProvider = Literal["rocketcyber", "barracuda-xdr", "sentinelone", "defender"]
if set(get_args(VendorProvider)) != set(PROVIDERS):  # keep the API's list in step with the normalisers
    raise RuntimeError("VendorProvider and integrations.security.PROVIDERS differ")

ProviderName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$",
        examples=["RocketCyber"],
        description="the SOC platform; stored as a lower-case slug (`Barracuda XDR` -> `barracuda-xdr`)",
    ),
]
AlertId = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$", examples=["RC-2025-1234"])]
Outcome = Literal["new_ticket", "correlated", "duplicate", "notify_only", "ignored", "triage"]


class AlertCreate(Strict):
    """The seed's document (9.7). ``title`` and ``description`` are optional additions; anything else is refused."""

    provider: ProviderName
    alert_id: AlertId
    severity: AlertSeverity = Field(description="critical, high, medium, low or informational (any case)")
    threat_type: str = Field(min_length=1, max_length=128, examples=["ransomware"])
    affected_asset: str | None = Field(
        default=None, min_length=1, max_length=255, examples=["WS-CLIENT-042"], description="host or device name"
    )
    customer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        examples=["CUST-789"],
        description="our customer id, or the vendor's account key (resolved through the mappings); "
        "an alert that matches no customer goes to the triage queue",
    )
    action: AlertAction = Field(
        default=AlertAction.CREATE_TICKET, description="create_ticket, notify_only, or ignore (recorded, nothing sent)"
    )
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)

    @field_validator("severity", "action", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("threat_type")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class VendorPayload(RootModel[dict[str, Any] | list[Any]]):
    """The vendor's webhook or export document as it sends it (an object, or a list of alerts)."""


class Alert(BaseModel):
    provider: str
    alert_id: str
    severity: AlertSeverity
    threat_type: str
    title: str
    status: AlertStatus
    action: AlertAction
    count: int = Field(description="how often this alert arrived")
    first_seen: datetime
    last_seen: datetime
    priority: Priority = Field(description="the ticket priority this severity maps to for the customer")
    triage: bool = Field(description="no customer matched: the alert sits in the triage queue")
    customer_id: str | None
    customer_name: str | None
    customer_ref: str | None = Field(description="what the sender named as customer")
    vendor_account: str | None
    affected_asset: str | None
    asset_id: str | None
    asset: str | None
    ticket_number: int | None
    classification: AlertClassification | None


class AlertReceipt(BaseModel):
    """What became of a posted alert: 201 when it opened a ticket, 200 otherwise (a duplicate names its ticket)."""

    outcome: Outcome
    ticket_number: int | None
    alert: Alert
    ticket: Ticket | None = Field(default=None, description="the ticket as it stands, when this alert changed it")


class AlertReceipts(BaseModel):
    items: list[AlertReceipt]
    created: int = Field(description="how many tickets the payload opened")


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class AlertListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(default=None, max_length=64)
    status: AlertStatus | list[AlertStatus] | None = None
    severity: AlertSeverity | list[AlertSeverity] | None = None
    customer_id: str | None = Field(default=None, max_length=64)
    ticket_number: int | None = Field(default=None, ge=1, le=2**53)
    triage: bool | None = Field(default=None, description="true: only alerts without a customer")
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=64, description="from the previous page's next_cursor")


class AlertKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=64)
    alert_id: str = Field(min_length=1, max_length=255)


class VendorKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: VendorProvider


class MappingKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    account: str = Field(min_length=1, max_length=255, description="the vendor's site, tenant or account key")


class MappingPut(Strict):
    customer_id: str = Field(min_length=1, max_length=64, examples=["CUST-789"])


class Mapping(BaseModel):
    provider: str
    account: str
    customer_id: str
    created_by: str
    created_at: datetime


class MappingListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=512)


class MappingPage(BaseModel):
    items: list[Mapping]
    next_cursor: str | None


class CustomerKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=64)


class SeverityMapping(Strict):
    """Ticket priority per alert severity; a severity you leave out keeps the default
    (critical->critical, high->high, medium->medium, low->low, informational->low)."""

    critical: Priority | None = None
    high: Priority | None = None
    medium: Priority | None = None
    low: Priority | None = None
    informational: Priority | None = None


class SeverityMappingView(BaseModel):
    customer_id: str
    mapping: dict[AlertSeverity, Priority] = Field(description="the priority every severity maps to")
    overrides: dict[AlertSeverity, Priority] = Field(description="the customer's own choices (the rest is default)")
