"""Alembic from Python: used by ``app.cli migrate``, ``/version`` and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if database_url:
        # configparser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    # The app configures logging itself; alembic.ini's logging would replace it.
    config.attributes["configure_logger"] = False
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Blocking (runs its own event loop): call it from a thread inside async code."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    """The newest revision the code ships, read from the migration scripts."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_current_head()
    except Exception:  # noqa: BLE001 - an image without migrations still serves /version
        return None


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


async def plan(database_url: str, scripts: ScriptDirectory | None = None):  # -> migration_plan.Plan
    """The classified plan of the pending revisions against the database (read only)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.core.migration_plan import plan_for

    scripts = scripts or script_directory()
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: plan_for(sync, scripts))
    finally:
        await engine.dispose()
