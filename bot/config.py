"""Configuration from the environment and `.env` (the environment wins)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EVENT_FILE = ROOT / "events" / "excom2020.toml"


class ConfigError(Exception):
    """A setting is invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///delegate-bot.db"
    redis_url: str | None = None
    # Names this process's Redis person locks across its restarts (default: the host name); one per worker.
    instance_name: str | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    event_file: Path = DEFAULT_EVENT_FILE
    clock_start: datetime | None = None
    clock_speed: float = Field(default=1.0, gt=0, le=10_000)
    # Delivery engine: global send rate (Telegram allows about 30/s in bulk).
    send_rate: float = Field(default=25.0, gt=0, le=1000)
    # Seconds a sender holds the outbox rows it claimed; a dead worker's rows go to another one after it.
    sender_lease: float = Field(default=120.0, ge=5, le=3600)
    # Flood control: updates one person may send at once, then per second on average (0 turns it off).
    flood_burst: int = Field(default=20, ge=0, le=10_000)
    flood_rate: float = Field(default=1.0, gt=0, le=1000)
    # The Smart City Quiz: players at once in private chats (0: derived from SEND_RATE, domain.quiz.capacity),
    # and the server-side secret in every plan's seed (unset: generated once and kept in the database).
    quiz_capacity: int = Field(default=0, ge=0, le=1_000_000)
    quiz_secret: SecretStr | None = None
    log_level: str = "INFO"
    # Webhook mode (`python -m bot webhook`, `make serve`): the public address Telegram is told, the secret
    # it sends back in X-Telegram-Bot-Api-Secret-Token, where the workers listen, how many of them.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    workers: int = Field(default=1, ge=1, le=64)
    # The organisers' web console (console/): served on WEB_HOST:WEB_PORT by the bot's own process (no port:
    # not served); PUBLIC_URL is the address organisers open (the sign-in links point there; https makes the
    # session cookie Secure); CONSOLE_SECRET signs the links (default: derived from BOT_TOKEN).
    web_port: int | None = Field(default=None, ge=0, le=65535)
    web_host: str = "127.0.0.1"
    public_url: str | None = None
    console_secret: SecretStr | None = None
    # The offline chat (no BOT_TOKEN): who you are, the language your "Telegram" reports, where files go.
    offline_user_id: int = Field(default=1001, gt=0)
    offline_language: str = Field(default="en", pattern=r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
    offline_files: Path = Path("offline-files")

    @field_validator("bot_token", "redis_url", "clock_start", "web_port", "public_url", "console_secret",
                     "quiz_secret", "webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            bad = [p for p in parts if not p.lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"expected comma-separated numeric Telegram user ids, got {bad[0]!r}")
            return frozenset(int(p) for p in parts)
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected a base URL such as http://127.0.0.1:8081")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://") and not value.startswith("http://"):
            raise ValueError("expected the public address Telegram posts to, e.g. https://bot.example.org/tg/webhook")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("expected 1-256 characters A-Z, a-z, 0-9, _ or -")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected the console's address, such as https://bot.example.org")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("expected sqlite+aiosqlite:///file.db or postgresql+asyncpg://user@host/db")
        return value

    @field_validator("clock_start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2020-11-17T08:50:00+03:00")
        return value

    @field_validator("event_file")
    @classmethod
    def _exists(cls, value: Path) -> Path:
        if not value.is_absolute():
            value = (ROOT / value) if not value.exists() else value.resolve()
        if not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def token(self) -> str | None:
        return self.bot_token.get_secret_value() if self.bot_token else None

    @property
    def secret(self) -> str | None:
        return self.webhook_secret.get_secret_value() if self.webhook_secret else None

    @property
    def webhook_path(self) -> str:
        return urlsplit(self.webhook_url or "").path or "/"


def check_webhook(settings: Settings) -> None:
    """Webhook mode needs what it tells Telegram, and a configuration several workers can share: one line
    naming what is missing (ConfigError)."""
    if not settings.token:
        raise ConfigError("BOT_TOKEN: webhook mode needs the bot's token")
    if not settings.webhook_url:
        raise ConfigError("WEBHOOK_URL: webhook mode needs the public address Telegram posts updates to")
    if not settings.webhook_secret:
        raise ConfigError("WEBHOOK_SECRET: webhook mode needs a secret token (1-256 characters A-Z, a-z, 0-9, _, -)")
    if settings.workers > 1 and settings.database_url.startswith("sqlite"):
        raise ConfigError(f"DATABASE_URL: {settings.workers} workers need PostgreSQL (SQLite serves one process)")
    if settings.workers > 1 and not settings.redis_url:
        raise ConfigError(f"REDIS_URL: {settings.workers} workers need Redis (per-person locks, the shared rate "
                          "limit, cache invalidation)")


def load_settings(**overrides: Any) -> Settings:
    """Read settings; turn a validation failure into one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "configuration"
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {msg}") from None
