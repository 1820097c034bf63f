"""Settings and registered delegates for tests and benchmarks."""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from domain.registration import Profile


def offline_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings that ignore the environment and `.env`: no token, no Redis, the real clock at speed 1."""
    values: dict[str, Any] = {"database_url": database_url, "bot_token": None, "redis_url": None,
                              "admin_ids": "", "clock_start": None, "clock_speed": 1}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def delegate(user_id: int, **overrides: Any) -> Profile:
    """A complete registration (a Moscow-zone WeGO member from Seoul unless `overrides` say otherwise)."""
    values: dict[str, Any] = {
        "user_id": user_id, "language": "en", "full_name": f"Delegate {user_id}", "position": "Officer",
        "organisation": "City Hall", "city": "Seoul", "country": "Somewhere", "participant_type": "wego_member",
        "email": f"u{user_id}@example.org", "timezone": "Europe/Moscow", "matchmaking": None, "city_id": None,
    }
    values.update(overrides)
    return Profile(**values)
