"""Read the configuration from environment variables prefixed ``INZAGE_``."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ENV_PREFIX = "INZAGE_"
PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """Raised when the configuration cannot work; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_from: str = "Inzage <no-reply@localhost>"
    base_url: str = "http://127.0.0.1:8000"
    # Without Redis: seconds between outbox sweeps in the web process; unset,
    # the sweeper keeps the worker's schedule (every minute).
    outbox_sweep_s: float | None = None

    @property
    def is_production(self) -> bool:
        return self.env == PRODUCTION

    @property
    def db_url(self) -> str:
        """Return the database URL, SQLite in the data folder by default."""
        if self.database_url:
            return self.database_url
        return sqlite_url(self.data_dir / "inzage.sqlite3")

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    def check(self) -> None:
        """Refuse a production start that lacks what production needs."""
        if not self.is_production:
            return
        missing = []
        if not self.secret_key or len(self.secret_key) < 32:
            missing.append("INZAGE_SECRET_KEY (at least 32 random characters)")
        if not self.database_url or self.database_url.startswith("sqlite"):
            missing.append("INZAGE_DATABASE_URL (a PostgreSQL URL)")
        if not self.smtp_host:
            missing.append("INZAGE_SMTP_HOST (and INZAGE_SMTP_USER, _PASSWORD)")
        if missing:
            raise ConfigurationError(
                "Inzage will not start in production without: " + "; ".join(missing)
            )


def sqlite_url(path: Path) -> str:
    """Return the URL of a SQLite file, quoted so any folder name survives it.

    Tortoise reads the URL with urllib: a '#' or '?' in a folder's name would
    end the path there (models.db unquotes it again).
    """
    return "sqlite://" + quote(str(path.resolve()), safe="/")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build the settings from the environment, with safe development defaults."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(ENV_PREFIX + name, "").strip()
        return value or None

    return Settings(
        env=get("ENV") or "development",
        data_dir=Path(get("DATA_DIR") or "data"),
        database_url=get("DATABASE_URL"),
        redis_url=get("REDIS_URL"),
        secret_key=get("SECRET_KEY"),
        smtp_host=get("SMTP_HOST"),
        smtp_port=int(get("SMTP_PORT") or 587),
        smtp_user=get("SMTP_USER"),
        smtp_password=get("SMTP_PASSWORD"),
        mail_from=get("MAIL_FROM") or "Inzage <no-reply@localhost>",
        base_url=get("BASE_URL") or "http://127.0.0.1:8000",
        outbox_sweep_s=_positive_float(get("OUTBOX_SWEEP_S"), "OUTBOX_SWEEP_S"),
    )


def _positive_float(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = 0
    if not (math.isfinite(number) and number > 0):
        raise ConfigurationError(f"{ENV_PREFIX}{name} must be a number of seconds.")
    return number
