"""Settings from ``PSA_*`` environment variables (and an optional ``.env`` file), read once and passed down.

Secrets are ``SecretStr``: they print as ``**********`` and reach the code only through ``get_secret_value``.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from email.utils import parseaddr
from typing import Literal
from zoneinfo import ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from psa_chatops.core.alert_triage import TriagePolicy
from psa_chatops.core.sla import BusinessCalendar
from psa_chatops.integrations.mail_in.config import MailboxConfig, unique_labels
from psa_chatops.integrations.siem.config import (
    DestinationName,
    ElasticDestination,
    QRadarDestination,
    SplunkDestination,
)
from psa_chatops.integrations.smtp.config import parse_smtp_url
from psa_chatops.integrations.smtp.message import is_address
from psa_chatops.storage.engine import is_sqlite

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./psa.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PSA_",
        env_file=".env",
        extra="ignore",
        secrets_dir=None,
        populate_by_name=True,
        hide_input_in_errors=True,  # a rejected value may be a secret (a password pasted into PSA_SMTP_URL)
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    database_url: str = DEFAULT_DATABASE_URL
    sandbox: bool = False
    run_background: bool = True
    default_locale: Literal["en", "de"] = "en"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    public_url: str = "http://127.0.0.1:8080"

    dispatcher_batch: int = Field(default=100, ge=1, le=1000)
    dispatcher_concurrency: int = Field(default=32, ge=1, le=256)
    dispatcher_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    dispatcher_linger_seconds: float = Field(default=0.05, ge=0, le=5)
    dispatcher_lease_seconds: float = Field(default=60.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    outbox_backoff_base_seconds: float = Field(default=2.0, gt=0)
    outbox_backoff_cap_seconds: float = Field(default=600.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    sla_sweep_seconds: float = Field(default=60.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_signing_secret: SecretStr | None = None

    # security alerts
    alert_correlation_window_seconds: float = Field(default=3600.0, ge=0, le=30 * 86400)  # 0: no correlation
    alert_triage_customer: str = Field(default="TRIAGE", min_length=1, max_length=64)  # where unmatched alerts go
    api_signature_tolerance_seconds: int = Field(default=300, ge=30, le=3600)  # request signing: allowed skew

    # REST API gateway
    redis_url: SecretStr | None = None  # rate limits and the response cache are shared through Redis when set
    api_rate_per_key: float = Field(default=50.0, gt=0, description="requests per second per API key (refill)")
    api_burst_per_key: int = Field(default=200, ge=1)
    api_rate_per_ip: float = Field(default=100.0, gt=0)
    api_burst_per_ip: int = Field(default=400, ge=1)
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    api_cache: bool = True
    sandbox_tokens_per_hour: int = Field(default=20, ge=1)
    jwt_private_key: SecretStr | None = None  # PEM (EC P-256); without it a key is generated at start
    jwt_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    jwt_external_issuer: str | None = None  # e.g. https://login.microsoftonline.com/<tenant>/v2.0
    jwt_external_jwks_url: str | None = None
    jwt_external_audience: str | None = None

    # Slack (the names Slack's own docs and tools use, without the PSA_ prefix)
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET"))
    slack_client_id: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_CLIENT_ID"))
    slack_client_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_CLIENT_SECRET"))
    slack_api_url: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_API_URL"))
    slack_webhook_url: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_WEBHOOK_URL"))
    slack_ticket_reaction: bool = Field(  # the 🎫 reaction on a message offers to open a ticket from it
        default=False, validation_alias=AliasChoices("SLACK_TICKET_REACTION", "PSA_SLACK_TICKET_REACTION")
    )
    encryption_key: SecretStr | None = None  # Fernet key for tokens stored in the database (Slack installations)

    # Microsoft Teams (the Azure Bot's app registration) and Microsoft 365
    teams_app_id: str | None = Field(default=None, validation_alias=AliasChoices("TEAMS_APP_ID"))
    teams_app_password: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TEAMS_APP_PASSWORD"))
    teams_tenant_id: str | None = Field(default=None, validation_alias=AliasChoices("TEAMS_TENANT_ID"))
    teams_workflows_url: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TEAMS_WORKFLOWS_URL"))
    teams_openid_metadata_url: str | None = None  # where Bot Connector signing keys are listed (default: the SDK's)
    teams_connector_url: str | None = None  # where proactive sends go when no serviceUrl is known (tests)
    graph_tenant_id: str | None = None  # Microsoft Graph (calendar sync), app-only via msal client credentials
    graph_client_id: str | None = None
    graph_client_secret: SecretStr | None = None
    graph_calendar_user: str | None = None  # the mailbox (UPN or id) or ...
    graph_calendar_group: str | None = None  # ... the Microsoft 365 group whose calendar gets the windows
    graph_api_url: str = "https://graph.microsoft.com/v1.0"  # tests point this at a loopback fake
    graph_authority_url: str = "https://login.microsoftonline.com"  # tests point this at a loopback fake

    # --- outgoing e-mail: notifications (email:<target> routing rules) and scheduled reports ---
    mail_transport: Literal["smtp", "graph"] = "smtp"  # graph: sendMail as PSA_GRAPH_MAIL_USER (Microsoft 365)
    smtp_url: str | None = None  # smtp+starttls://user@host:587, smtps://user@host:465 or smtp://host:25
    smtp_password: SecretStr | None = None  # never in the URL
    smtp_ca_file: str | None = None  # a private CA for the relay's certificate (default: the system's)
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    graph_mail_user: str | None = None  # the Microsoft 365 mailbox that sends (Mail.Send application permission)
    mail_from: str | None = None  # "Service Desk <servicedesk@msp.example>"
    mail_reply_to: str | None = None  # where replies go (the intake mailbox), if not the From address
    mail_subject_tag: str = Field(default="[#{number}]", min_length=1, max_length=40)  # intake recognises it
    report_timezone: str = "Europe/Berlin"
    report_daily_sla_cron: str = "0 7 * * mon-fri"  # crontab, in report_timezone; empty: off
    report_weekly_customer_cron: str = "0 7 * * mon"  # crontab, in report_timezone; empty: off
    # --- end outgoing e-mail ---

    # --- e-mail intake: a JSON list of mailboxes (integrations/mail_in/config.py), read into tickets and notes ---
    mailboxes: list[MailboxConfig] = Field(default_factory=list)
    # --- end e-mail intake ---

    # SOC vendor APIs: alert pollers, close-back and device isolation (off unless configured)
    sentinelone_url: str | None = None  # the management console, e.g. https://usea1-acme.sentinelone.net
    sentinelone_api_token: SecretStr | None = None  # a service user's API token (Viewer + Threat/Agent actions)
    defender_tenant_id: str | None = None  # the tenant whose Defender alerts are polled (Graph alerts_v2)
    defender_client_id: str | None = None  # default: PSA_GRAPH_CLIENT_ID
    defender_client_secret: SecretStr | None = None  # default: PSA_GRAPH_CLIENT_SECRET
    defender_endpoint_api_url: str = "https://api.security.microsoft.com"  # machine isolation; tests: a fake
    defender_endpoint_scope: str = "https://api.securitycenter.microsoft.com/.default"
    security_poll_seconds: float = Field(default=120.0, ge=10, le=86400)
    security_poll_look_back_hours: float = Field(default=24.0, gt=0, le=24 * 30)  # the first poll reaches back

    # SIEM forwarding: each a JSON object, destination name (the <name> of splunk:<name>, ...) -> its endpoint
    siem_splunk: dict[DestinationName, SplunkDestination] = Field(default_factory=dict)
    siem_elastic: dict[DestinationName, ElasticDestination] = Field(default_factory=dict)
    siem_qradar: dict[DestinationName, QRadarDestination] = Field(default_factory=dict)

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not (value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://"))):
            raise ValueError(
                "use sqlite+aiosqlite:///path/to/psa.db or postgresql+asyncpg://user@host/db "
                f"(got scheme {value.split('://', 1)[0]!r})"
            )
        return value

    @model_validator(mode="after")
    def _external_issuer_complete(self) -> Settings:
        parts = (self.jwt_external_issuer, self.jwt_external_jwks_url, self.jwt_external_audience)
        if any(parts) and not all(parts):
            raise ValueError(
                "set all of PSA_JWT_EXTERNAL_ISSUER, PSA_JWT_EXTERNAL_JWKS_URL and PSA_JWT_EXTERNAL_AUDIENCE, or none"
            )
        return self

    @field_validator("mailboxes")
    @classmethod
    def _distinct_mailboxes(cls, value: list[MailboxConfig]) -> list[MailboxConfig]:
        return unique_labels(value)

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value:
            parse_smtp_url(value)  # raises ValueError naming the problem
        return value or None

    @field_validator("mail_from", "mail_reply_to")
    @classmethod
    def _mail_address(cls, value: str | None) -> str | None:
        if value and not is_address(parseaddr(value)[1]):
            raise ValueError("use an address like servicedesk@msp.example or 'Service Desk <servicedesk@msp.example>'")
        return value or None

    @field_validator("mail_subject_tag")
    @classmethod
    def _subject_tag(cls, value: str) -> str:
        if "{number}" not in value or any(c in value for c in "\r\n"):
            raise ValueError("the tag is one line and contains {number}, e.g. [#{number}]")
        try:
            value.format(number=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError("the tag may contain only the placeholder {number}") from exc
        return value

    @field_validator("report_daily_sla_cron", "report_weekly_customer_cron")
    @classmethod
    def _crontab(cls, value: str) -> str:
        if value.strip():
            CronTrigger.from_crontab(value, timezone=UTC)  # raises ValueError for a malformed expression
        return value.strip()

    @field_validator("report_timezone")
    @classmethod
    def _report_timezone(cls, value: str) -> str:
        try:
            _ = BusinessCalendar(timezone=value).zone  # the SLA clock's own (cached) lookup
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _mail_complete(self) -> Settings:
        if self.mail_transport == "graph" and self.mail_from is not None and not self.graph_mail_user:
            raise ValueError("PSA_MAIL_TRANSPORT=graph needs PSA_GRAPH_MAIL_USER, the mailbox that sends")
        return self

    def mail_configured(self) -> bool:
        """Whether e-mail can go out: a From address and a transport (in sandbox mode, the From address only)."""
        if self.mail_from is None:
            return False
        if self.sandbox:
            return True
        if self.mail_transport == "graph":
            graph = (self.graph_mail_user, self.graph_tenant_id, self.graph_client_id, self.graph_client_secret)
            return all(graph)
        return self.smtp_url is not None

    @model_validator(mode="after")
    def _sentinelone_complete(self) -> Settings:
        if bool(self.sentinelone_url) != bool(self.sentinelone_api_token):
            raise ValueError("set both PSA_SENTINELONE_URL and PSA_SENTINELONE_API_TOKEN, or neither")
        return self

    def defender_credentials(self) -> tuple[str, str, SecretStr] | None:
        """(tenant, client id, secret) for Defender, the client falling back to the Graph app; None when off."""
        client = self.defender_client_id or self.graph_client_id
        secret = self.defender_client_secret or self.graph_client_secret
        if not (self.defender_tenant_id and client and secret):
            return None
        return self.defender_tenant_id, client, secret

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.database_url)

    @property
    def alert_policy(self) -> TriagePolicy:
        return TriagePolicy(
            correlation_window=timedelta(seconds=self.alert_correlation_window_seconds),
            triage_customer_id=self.alert_triage_customer,
        )

    def redacted_database_url(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)


def describe_validation_error(exc: Exception) -> str:
    """One line per invalid setting, naming the environment variable to fix."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    lines = []
    for error in exc.errors():
        name = "PSA_" + "_".join(str(p) for p in error["loc"]).upper()
        lines.append(f"{name}: {error['msg']}")
    return "; ".join(lines)
