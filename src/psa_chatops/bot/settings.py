"""Settings from ``PSA_*`` environment variables (and an optional ``.env`` file), read once and passed down.

Secrets are ``SecretStr``: they print as ``**********`` and reach the code only through ``get_secret_value``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from psa_chatops.storage.engine import is_sqlite

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./psa.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PSA_", env_file=".env", extra="ignore", secrets_dir=None, populate_by_name=True
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

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.database_url)

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
