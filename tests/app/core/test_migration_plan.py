"""The migration plan over real Alembic revision files (tests/app/core/plan_revisions) against a
real PostgreSQL: each destructive and locking kind of operation, and the safe ones that look
like them; the product's own chain; and `app.cli migrate --plan` as the Job runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.migration_plan import DESTRUCTIVE, LOCKING, SAFE, Plan, plan_for, type_change
from app.core.migrations import plan, upgrade

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ScriptDirectory(str(Path(__file__).with_name("plan_revisions")))

# revision -> (safety, a phrase its flagged or safe operations must contain)
EXPECTED = {
    "p001_add_nullable_column": (SAFE, "add column plan_items.colour"),
    "p002_add_not_null_with_default": (SAFE, "add column plan_items.active"),
    "p003_add_not_null_without_default": (DESTRUCTIVE, "add NOT NULL column plan_items.weight without a default"),
    "p004_new_table_not_null": (SAFE, "create table plan_tags"),
    "p005_index_concurrently": (SAFE, "create index ix_plan_items_qty on plan_items"),
    "p006_index_plain": (LOCKING, "create index ix_plan_items_code on plan_items without CONCURRENTLY"),
    "p007_widen_varchar": (SAFE, "widens (no rewrite)"),
    "p008_narrow_varchar": (DESTRUCTIVE, "change type of plan_items.label from character varying(80) to character varying(10)"),
    "p009_integer_to_bigint": (LOCKING, "change type of plan_items.stock from integer to bigint: widens, but rewrites"),
    "p010_rename_column": (DESTRUCTIVE, "rename column plan_items.legacy to legacy_text"),
    "p011_drop_column": (DESTRUCTIVE, "drop column plan_items.old_flag"),
    "p012_drop_table": (DESTRUCTIVE, "drop table plan_archive"),
    "p013_drop_index": (DESTRUCTIVE, "drop index ix_plan_items_name"),
    "p014_foreign_key": (LOCKING, "add foreign constraint on plan_items: validates every row"),
    "p015_foreign_key_not_valid": (SAFE, "add foreign constraint on plan_items"),
    "p016_set_not_null": (LOCKING, "set NOT NULL on plan_items.qty"),
    "p017_drop_constraint": (DESTRUCTIVE, "drop constraint uq_plan_items_sku on plan_items"),
    "p018_rename_table": (DESTRUCTIVE, "rename table plan_renamed to plan_renamed_new"),
    "p019_backfill": (SAFE, "UPDATE plan_items SET colour"),
    "p020_widen_numeric": (SAFE, "numeric(10,2) to numeric(14,2): widens"),
    "p021_contract": (DESTRUCTIVE, "drop column plan_items.code"),
}


def _run(url: str, fn):
    async def go():
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                result = await conn.run_sync(fn)
                await conn.commit()
                return result
        finally:
            await engine.dispose()
    return asyncio.run(go())


def _apply_base(sync_conn) -> None:
    """Builds p000_base online, as `alembic upgrade p000_base` would, and records it."""
    context = MigrationContext.configure(sync_conn)
    base = EXAMPLES.get_revision("p000_base")
    with Operations.context(context):
        base.module.upgrade()
    context.stamp(EXAMPLES, "p000_base")


def _plan(url: str) -> Plan:
    return _run(url, lambda conn: plan_for(conn, EXAMPLES))


def test_each_kind_of_operation_is_classified_against_the_live_schema(database_factory):
    url = database_factory()
    _run(url, _apply_base)
    result = _plan(url)
    assert result.current == "p000_base" and result.head == "p021_contract"
    by_revision = {r.revision: r for r in result.revisions}
    assert list(by_revision) == list(EXPECTED), "revision by revision, oldest first"
    for revision, (safety, phrase) in EXPECTED.items():
        rev = by_revision[revision]
        named = rev.destructive + rev.locking + rev.safe
        assert rev.safety == safety, (revision, rev)
        assert any(phrase in op for op in named), (revision, phrase, named)
    # A plain DROP INDEX is both: the index goes, and its table is locked meanwhile.
    assert by_revision["p013_drop_index"].locking
    # A type change says what it changes from and to.
    assert "narrows" in by_revision["p008_narrow_varchar"].destructive[0]


def test_post_deployment_revisions_are_marked_and_wait_for_the_rollout(database_factory):
    url = database_factory()
    _run(url, _apply_base)
    result = _plan(url)
    marked = [r.revision for r in result.revisions if r.post_deployment]
    assert marked == ["p021_contract"]
    assert result.pre_deployment_target == "p020_widen_numeric"
    doc = result.as_dict()
    assert doc["revisions"][-1]["postDeployment"] is True and doc["preDeploymentTarget"] == "p020_widen_numeric"


def test_on_an_empty_database_nothing_is_flagged_but_the_post_deployment_split(database_factory):
    """Every table is new: no running version can rely on any of it."""
    result = _plan(database_factory())
    assert result.current is None and len(result.revisions) == 22
    flagged = {r.revision: r.destructive + r.locking for r in result.revisions if r.safety != SAFE}
    assert flagged == {}


def test_the_products_own_chain_is_safe_from_scratch_and_from_each_revision(database_factory):
    url = database_factory()
    fresh = asyncio.run(plan(url))
    assert [r.safety for r in fresh.revisions] == [SAFE] * len(fresh.revisions) and fresh.revisions
    upgrade(url, "0002_commerce")
    step = asyncio.run(plan(url))
    assert [(r.revision, r.safety) for r in step.revisions] == [("0003_session_expiry_index", SAFE),
                                                                ("0004_outbox_webhooks", SAFE)]
    upgrade(url)
    assert asyncio.run(plan(url)).revisions == []


@pytest.mark.parametrize(("old", "new", "kind"), [
    ("character varying(20)", "character varying(40)", SAFE),
    ("character varying(20)", "text", SAFE),
    ("text", "character varying(20)", DESTRUCTIVE),
    ("character varying(40)", "character varying(20)", DESTRUCTIVE),
    ("numeric(10,2)", "numeric(12,2)", SAFE),
    ("numeric(10,2)", "numeric(10,1)", DESTRUCTIVE),
    ("smallint", "integer", LOCKING),
    ("bigint", "integer", DESTRUCTIVE),
    ("integer", "text", DESTRUCTIVE),
])
def test_type_changes_widening_and_narrowing(old, new, kind):
    assert type_change(old, new)[0] == kind


def test_the_cli_reports_the_plan_in_its_termination_message_and_changes_nothing(database_factory, tmp_path):
    url = database_factory()
    upgrade(url, "0002_commerce")
    env = {**os.environ, "STOREFRONT_DATABASE_URL": url, "STOREFRONT_TERMINATION_LOG": str(tmp_path / "termination-log")}
    result = subprocess.run([sys.executable, "-m", "app.cli", "migrate", "--plan"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    reported = json.loads((tmp_path / "termination-log").read_text())
    assert reported["from"] == "0002_commerce" and reported["to"] == "0004_outbox_webhooks"
    assert reported["revisions"][0] == {"revision": "0003_session_expiry_index", "safety": SAFE, "safe": [
        "drop index ix_refresh_token_families_expires_at (not in use)",
        "create index ix_refresh_token_families_expires_at on refresh_token_families"]}
    assert [(r["revision"], r["safety"]) for r in reported["revisions"][1:]] == [("0004_outbox_webhooks", SAFE)]
    assert asyncio.run(plan(url)).current == "0002_commerce", "planning migrates nothing"
    assert "://" not in result.stdout + result.stderr or url not in result.stdout + result.stderr


def test_a_plan_too_long_for_a_termination_message_still_names_every_flagged_revision(database_factory):
    url = database_factory()
    _run(url, _apply_base)
    result = _plan(url)
    for rev in result.revisions:
        rev.safe = [f"a long safe description number {i} " * 4 for i in range(30)]
    message = result.termination_message()
    assert len(message.encode()) <= 4096
    doc = json.loads(message)
    assert {r["revision"]: r["safety"] for r in doc["revisions"]} == {r.revision: r.safety for r in result.revisions}
    assert "drop column plan_items.old_flag" in message
