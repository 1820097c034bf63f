"""`python -m bot` as a process, for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def bot_env(database_url: str, *, api_url: str | None = None, **variables: str) -> dict[str, str]:
    """The environment of a bot process under test: none of the caller's bot settings (BOT_TOKEN,
    REDIS_URL, ...) leak in; with `api_url` the bot long-polls that server with a test token, without it
    the offline chat starts. `variables` set more (CLOCK_START="...")."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update({"PYTHONPATH": str(ROOT), "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"})
    if api_url:
        env.update({"BOT_TOKEN": "42:TEST", "TELEGRAM_API_URL": api_url})
    env.update(variables)
    return env


async def spawn_bot(cwd: Path, env: dict[str, str], **streams: Any) -> asyncio.subprocess.Process:
    """Start `python -m bot` in `cwd` (a temporary folder, so a developer's .env cannot leak in)."""
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=cwd, env=env, **streams)
