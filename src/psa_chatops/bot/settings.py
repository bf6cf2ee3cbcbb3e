"""Settings from ``PSA_*`` environment variables (and an optional ``.env`` file), read once and passed down.

Secrets are ``SecretStr``: they print as ``**********`` and reach the code only through ``get_secret_value``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from psa_chatops.storage.engine import is_sqlite

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./psa.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PSA_", env_file=".env", extra="ignore", secrets_dir=None)

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
    dispatcher_lease_seconds: float = Field(default=60.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    outbox_backoff_base_seconds: float = Field(default=2.0, gt=0)
    outbox_backoff_cap_seconds: float = Field(default=600.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    sla_sweep_seconds: float = Field(default=60.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_signing_secret: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not (value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://"))):
            raise ValueError(
                "use sqlite+aiosqlite:///path/to/psa.db or postgresql+asyncpg://user@host/db "
                f"(got scheme {value.split('://', 1)[0]!r})"
            )
        return value

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
