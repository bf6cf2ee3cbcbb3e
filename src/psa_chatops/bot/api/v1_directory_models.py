"""API v1 bodies and parameters for the directory, routing rules, deliveries, API keys and sandbox tokens.

Requests refuse unknown fields (``Strict``). ``PATCH`` bodies (``Patch``) change only the fields sent; ``null``
clears a field that may be empty and is refused for the others (leave a field out to keep it). Durations are whole
seconds in v1.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from psa_chatops.bot.api.v1_models import Strict
from psa_chatops.core.directory import Role
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category
from psa_chatops.storage.outbox import RowStatus

NewId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="letters, digits and . _ : - (chosen by you, unique)",
    ),
]
RefId = Annotated[str, Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[
    str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", examples=["petra@mueller-mb.de"])
]
Timezone = Annotated[
    str,
    Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+/-]+$", examples=["Europe/Berlin"], description="IANA zone"
    ),
]
Domain = Annotated[str, Field(min_length=3, max_length=253, pattern=r"^[^@\s]+\.[^@\s]+$", examples=["mueller-mb.de"])]
Network = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[0-9A-Fa-f:./]+$", examples=["203.0.113.0/24"])]
Locale = Literal["de", "en"]
Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["08:00"])]
Seconds = Annotated[int, Field(ge=60, le=366 * 86_400, examples=[3600])]


class Patch(Strict):
    """Only the fields you send change. ``null`` clears the fields that may be empty; other fields refuse it."""

    nullable: ClassVar[frozenset[str]] = frozenset()
    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema, model: _drop_null(schema, model))

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


def _drop_null(schema: dict[str, Any], model: Any) -> None:
    """The document says what the validator enforces: only ``nullable`` fields take null."""
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name in nullable or not options:
            continue
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            del prop["anyOf"]
            prop.update(kept[0])
        prop.pop("default", None)


class Page(BaseModel):
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class ListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=512, description="from the previous page's next_cursor")


class TextListParams(ListParams):
    q: str | None = Field(default=None, min_length=1, max_length=200, description="text in the name (any case)")


class RecordKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: RefId


class NumberKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1, le=2**53)


# --- customers ------------------------------------------------------------------------------------------------------


class OpeningHours(Strict):
    opens: Clock
    closes: Clock = Field(description='local time; "00:00" is midnight at the end of the day', examples=["17:00"])


class WeeklyHours(Strict):
    """Opening hours per weekday, in the customer's time zone; a day without hours is closed."""

    monday: list[OpeningHours] = Field(default_factory=list, max_length=4)
    tuesday: list[OpeningHours] = Field(default_factory=list, max_length=4)
    wednesday: list[OpeningHours] = Field(default_factory=list, max_length=4)
    thursday: list[OpeningHours] = Field(default_factory=list, max_length=4)
    friday: list[OpeningHours] = Field(default_factory=list, max_length=4)
    saturday: list[OpeningHours] = Field(default_factory=list, max_length=4)
    sunday: list[OpeningHours] = Field(default_factory=list, max_length=4)


class Customer(BaseModel):
    id: str = Field(examples=["CUST-789"])
    name: str = Field(examples=["Müller Maschinenbau GmbH"])
    email_domains: list[str] = Field(description="mail from these domains opens tickets for this customer")
    timezone: str
    weekly_hours: WeeklyHours = Field(description="business hours: the SLA clock runs only in these")
    holidays: list[date]
    sla_policy_id: str
    locale: str = Field(examples=["de"])


class CustomerCreate(Strict):
    id: NewId = Field(examples=["CUST-789"])
    name: Name = Field(examples=["Müller Maschinenbau GmbH"])
    email_domains: list[Domain] = Field(default_factory=list, max_length=50, examples=[["mueller-mb.de"]])
    timezone: Timezone = "Europe/Berlin"
    weekly_hours: WeeklyHours | None = Field(default=None, description="default: Monday to Friday, 08:00-17:00")
    holidays: list[date] = Field(default_factory=list, max_length=400)
    sla_policy_id: RefId = Field(default="standard", examples=["standard"])
    locale: Locale = "de"


class CustomerUpdate(Patch):
    name: Name | None = None
    email_domains: list[Domain] | None = Field(default=None, max_length=50)
    timezone: Timezone | None = None
    weekly_hours: WeeklyHours | None = None
    holidays: list[date] | None = Field(default=None, max_length=400)
    sla_policy_id: RefId | None = None
    locale: Locale | None = None


class CustomerPage(Page):
    items: list[Customer]


# --- contacts -------------------------------------------------------------------------------------------------------


class Contact(BaseModel):
    id: str = Field(examples=["c-1"])
    customer_id: str = Field(examples=["CUST-789"])
    name: str
    email: str = Field(examples=["petra@mueller-mb.de"])
    locale: str = Field(examples=["de"])
    phone: str | None


class ContactCreate(Strict):
    id: NewId = Field(examples=["c-1"])
    customer_id: RefId = Field(examples=["CUST-789"])
    name: Name = Field(examples=["Petra Kunde"])
    email: Email
    locale: Locale = "de"
    phone: str | None = Field(default=None, max_length=40, examples=["+49 89 1234567"])


class ContactUpdate(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"phone"})

    customer_id: RefId | None = None
    name: Name | None = None
    email: Email | None = None
    locale: Locale | None = None
    phone: str | None = Field(default=None, max_length=40)


class ContactListParams(TextListParams):
    customer_id: RefId | None = None


class ContactPage(Page):
    items: list[Contact]


# --- technicians ----------------------------------------------------------------------------------------------------


class Technician(BaseModel):
    id: str = Field(examples=["alice"])
    name: str
    email: str
    role: Role
    customer_scope: list[str] | None = Field(description="the only customers this technician sees; null: all")
    locale: str = Field(examples=["de"])
    timezone: str


class TechnicianCreate(Strict):
    id: NewId = Field(examples=["alice"])
    name: Name = Field(examples=["Alice Admin"])
    email: Email = Field(examples=["alice@msp.example"])
    role: Role = Role.TECHNICIAN
    customer_scope: list[RefId] | None = Field(default=None, max_length=500)
    locale: Locale = "en"
    timezone: Timezone = "Europe/Berlin"


class TechnicianUpdate(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"customer_scope"})

    name: Name | None = None
    email: Email | None = None
    role: Role | None = None
    customer_scope: list[RefId] | None = Field(default=None, max_length=500)
    locale: Locale | None = None
    timezone: Timezone | None = None


class TechnicianListParams(TextListParams):
    role: Role | None = None


class TechnicianPage(Page):
    items: list[Technician]


# --- assets ---------------------------------------------------------------------------------------------------------


class Asset(BaseModel):
    id: str = Field(examples=["WS-CLIENT-042"])
    customer_id: str
    name: str
    hostname: str = Field(examples=["ws-client-042.mueller.local"])
    type: str = Field(examples=["workstation"])


class AssetCreate(Strict):
    id: NewId = Field(examples=["WS-CLIENT-042"])
    customer_id: RefId = Field(examples=["CUST-789"])
    name: Name = Field(examples=["WS-CLIENT-042"])
    hostname: str = Field(min_length=1, max_length=253, examples=["ws-client-042.mueller.local"])
    type: str = Field(default="workstation", min_length=1, max_length=32, examples=["server"])


class AssetUpdate(Patch):
    customer_id: RefId | None = None
    name: Name | None = None
    hostname: str | None = Field(default=None, min_length=1, max_length=253)
    type: str | None = Field(default=None, min_length=1, max_length=32)


class AssetListParams(TextListParams):
    customer_id: RefId | None = None
    type: str | None = Field(default=None, max_length=32)


class AssetPage(Page):
    items: list[Asset]


# --- maintenance windows --------------------------------------------------------------------------------------------


class MaintenanceWindow(BaseModel):
    id: str = Field(examples=["MW-2026-12"])
    customer_id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    asset_ids: list[str] = Field(description="the assets it covers; empty: all of the customer's assets")


class MaintenanceWindowCreate(Strict):
    id: NewId = Field(examples=["MW-2026-12"])
    customer_id: RefId = Field(examples=["CUST-789"])
    title: Name = Field(examples=["Firewall firmware update"])
    starts_at: AwareDatetime = Field(examples=["2026-12-05T22:00:00+01:00"])
    ends_at: AwareDatetime = Field(examples=["2026-12-06T02:00:00+01:00"])
    asset_ids: list[RefId] = Field(default_factory=list, max_length=200, examples=[["WS-CLIENT-042"]])


class MaintenanceWindowUpdate(Patch):
    title: Name | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    asset_ids: list[RefId] | None = Field(default=None, max_length=200)


class MaintenanceWindowListParams(ListParams):
    customer_id: RefId | None = None


class MaintenanceWindowPage(Page):
    items: list[MaintenanceWindow]


# --- SLA policies ---------------------------------------------------------------------------------------------------


class SlaTarget(Strict):
    first_response_seconds: Seconds = Field(examples=[3600])
    resolution_seconds: Seconds = Field(examples=[28800])


class SlaTargets(Strict):
    critical: SlaTarget
    high: SlaTarget
    medium: SlaTarget
    low: SlaTarget


class SlaTargetsUpdate(Patch):
    critical: SlaTarget | None = None
    high: SlaTarget | None = None
    medium: SlaTarget | None = None
    low: SlaTarget | None = None


class SlaTargetSeconds(BaseModel):
    first_response_seconds: int = Field(examples=[3600])
    resolution_seconds: int = Field(examples=[28800])


class SlaPolicyTargets(BaseModel):
    critical: SlaTargetSeconds
    high: SlaTargetSeconds
    medium: SlaTargetSeconds
    low: SlaTargetSeconds


class SlaPolicy(BaseModel):
    id: str = Field(examples=["standard"])
    name: str
    targets: SlaPolicyTargets = Field(
        description="business seconds per priority (calendar seconds if around the clock)"
    )
    around_the_clock: list[Priority] = Field(description="priorities whose clock ignores business hours")


class SlaPolicyCreate(Strict):
    id: NewId = Field(examples=["premium"])
    name: Name = Field(examples=["Premium 24/7"])
    targets: SlaTargets
    around_the_clock: list[Priority] = Field(default_factory=list, examples=[["critical"]])


class SlaPolicyUpdate(Patch):
    name: Name | None = None
    targets: SlaTargetsUpdate | None = Field(default=None, description="the priorities you send are replaced")
    around_the_clock: list[Priority] | None = None


class SlaPolicyPage(Page):
    items: list[SlaPolicy]


# --- routing rules --------------------------------------------------------------------------------------------------

Destination = Annotated[
    str,
    Field(
        min_length=3,
        max_length=512,
        pattern=r"^(slack|teams|webhook|email):\S+$",
        examples=["slack:C0123ABCD"],
        description="slack:<channel id>, teams:<conversation id>, webhook:https://... or email:<address>",
    ),
]


class RoutingRule(BaseModel):
    id: int = Field(examples=[7])
    destination: str = Field(examples=["slack:C0123ABCD"])
    categories: list[Category]
    customer_id: str | None = Field(description="only this customer's tickets; null: every customer")
    min_priority: Priority | None = Field(description="only tickets at least this urgent; null: all")
    dispatchers: bool = Field(description="also hears every escalation that pages the dispatchers")
    enabled: bool
    created_by: str
    created_at: datetime


class RoutingRuleCreate(Strict):
    destination: Destination
    categories: list[Category] = Field(default_factory=list, examples=[["new", "sla", "escalation"]])
    customer_id: RefId | None = None
    min_priority: Priority | None = None
    dispatchers: bool = False
    enabled: bool = True


class RoutingRuleUpdate(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"customer_id", "min_priority"})

    destination: Destination | None = None
    categories: list[Category] | None = None
    customer_id: RefId | None = None
    min_priority: Priority | None = None
    dispatchers: bool | None = None
    enabled: bool | None = None


class RoutingRuleListParams(ListParams):
    customer_id: RefId | None = None
    enabled: bool | None = None
    q: str | None = Field(default=None, min_length=1, max_length=200, description="text in the destination")


class RoutingRulePage(Page):
    items: list[RoutingRule]


# --- deliveries (the outbox) ----------------------------------------------------------------------------------------


class Delivery(BaseModel):
    id: int
    status: RowStatus
    destination: str
    event_type: str = Field(examples=["TicketOpened"])
    ticket_number: int | None
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


class DeliveryDetail(Delivery):
    idempotency_key: str = Field(description="sent with every attempt; receivers drop duplicates by it")
    claimed_until: datetime | None = Field(description="a dispatcher holds the row until then")
    payload: dict[str, Any]


class DeliveryListParams(ListParams):
    status: RowStatus | None = None
    destination: str | None = Field(default=None, max_length=512)
    ticket_number: int | None = Field(default=None, ge=1, le=2**53)


class DeliveryPage(Page):
    items: list[Delivery]


class DeliveryReplay(Strict):
    status: Literal["dead"] = Field(description="replay every row with this status")


class ReplayResult(BaseModel):
    replayed: int = Field(description="rows queued for delivery again")


# --- API keys -------------------------------------------------------------------------------------------------------


class ApiKey(BaseModel):
    id: str = Field(examples=["k3x9q2m7pa"])
    name: str
    scopes: list[str]
    customer_ids: list[str] | None = Field(description="the only customers the key sees; null: all")
    allowed_networks: list[str] | None = Field(description="client networks the key works from; null: any")
    sandbox: bool
    signing: bool = Field(
        description="its POSTs and requests under /security/ must be signed; the signing secret is never shown here"
    )
    status: Literal["active", "expired", "revoked"]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="the secret: shown only in this response, store it now")
    signing_secret: str | None = Field(
        default=None,
        description="the request-signing secret, when asked for (`signing_secret: true`): shown only in this "
        "response, store it now; null otherwise",
    )


class ApiKeySigningSecret(ApiKey):
    signing_secret: str = Field(description="the new request-signing secret: shown only in this response")


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=128, examples=["RMM integration"])
    scopes: list[str] = Field(min_length=1, max_length=16, examples=[["tickets:read", "tickets:write"]])
    customer_ids: list[RefId] | None = Field(default=None, max_length=500, examples=[["CUST-789"]])
    allowed_networks: list[Network] | None = Field(default=None, max_length=50, examples=[["203.0.113.0/24"]])
    expires_at: AwareDatetime | None = None
    signing_secret: bool = Field(
        default=False, description="also create a secret the key's requests must be signed with (HMAC), shown once"
    )


class ApiKeyKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=32)


class ApiKeyPage(Page):
    items: list[ApiKey]


# --- sandbox --------------------------------------------------------------------------------------------------------


class SandboxToken(BaseModel):
    key: str = Field(description="an API key for the sandbox data; send it as Authorization: Bearer <key>")
    id: str
    scopes: list[str]
    expires_at: datetime
    docs: str = Field(examples=["/docs"])
