"""Command line of the API image.

    python -m app.cli serve [--host H] [--port P] [--workers N]     # the API (uvicorn)
    python -m app.cli migrate [--plan | --pre-deployment]           # alembic upgrade head (or plan it)
    python -m app.cli keyset generate --out PATH [--alg EdDSA|ES256]
    python -m app.cli create-admin --email E [--password P] [--name N]
    python -m app.cli worker [--host H] [--port P]                  # the worker (same as python -m app.worker)

Settings come from the environment (``STOREFRONT_*``, see docs/configuration.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from app.core.config import Settings

log = logging.getLogger("storefront.cli")

# Kubernetes reads a container's last words from here into the pod status (the operator takes
# the schema revision from it); overridable for local runs and tests.
TERMINATION_LOG = Path(os.environ.get("STOREFRONT_TERMINATION_LOG", "/dev/termination-log"))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        # Scheme and client address from X-Forwarded-* only when the peer is a trusted proxy.
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_config=None,  # the app configures JSON logging itself
        access_log=False,  # the app writes its own access log with route and correlation id
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=20,
    )
    return 0


def _write_termination_log(message: str) -> None:
    try:
        TERMINATION_LOG.write_text(message)
    except OSError:  # not in a pod, or not writable: stdout has it anyway
        pass


async def _current_revision(settings: Settings) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
    finally:
        await engine.dispose()


def _plan(settings: Settings) -> int:
    """Reports what the pending revisions would do (docs/operator.md, the migration plan)."""
    from app.core.migrations import plan

    try:
        result = asyncio.run(plan(settings.database_url.get_secret_value()))
    except Exception as exc:
        log.exception("migration plan failed")
        _write_termination_log(f"migration plan failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        return 1
    message = result.termination_message()
    log.info("migration plan", extra={"plan": result.as_dict()})
    _write_termination_log(message)
    print(message)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from app.core.migrations import plan, upgrade

    settings = Settings()
    if args.plan:
        return _plan(settings)
    try:
        target = args.revision
        if args.pre_deployment:
            # Up to the revision before the first pending post-deployment one (expand/contract).
            target = asyncio.run(plan(settings.database_url.get_secret_value())).pre_deployment_target
        if target is not None:
            upgrade(settings.database_url.get_secret_value(), target)
        revision = asyncio.run(_current_revision(settings))
    except Exception as exc:
        log.exception("migration failed")
        # Only the exception type and message: never the database URL.
        _write_termination_log(f"migration failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        return 1
    log.info("database at revision %s", revision, extra={"revision": revision})
    _write_termination_log(revision or "")
    print(revision or "")
    return 0


def _keyset_generate(args: argparse.Namespace) -> int:
    from app.services.bootstrap import write_new_keyset

    kid = write_new_keyset(Path(args.out), args.alg)
    print(f"wrote keyset {args.out} (active kid {kid})")
    return 0


def _create_admin(args: argparse.Namespace) -> int:
    from app.services.bootstrap import create_admin

    settings = Settings()
    email = args.email or settings.seed_admin_email
    password = args.password or (settings.seed_admin_password.get_secret_value() if settings.seed_admin_password else None)
    if not email or not password:
        print("create-admin needs --email and --password (or STOREFRONT_SEED_ADMIN_EMAIL/_PASSWORD[_FILE])",
              file=sys.stderr)
        return 2
    from app.core.errors import DomainError

    try:
        user_id, created = asyncio.run(create_admin(settings, email, password, args.name or settings.seed_admin_name))
    except DomainError as exc:  # e.g. a password the policy refuses
        print(f"create-admin: {exc.detail}", file=sys.stderr)
        return 2
    print(f"{'created' if created else 'updated'} admin {email} (id {user_id})")
    return 0


def _purge_expired(args: argparse.Namespace) -> int:
    from app.services.bootstrap import purge
    from app.services.retention import RetentionPolicy

    settings = Settings()
    policy = RetentionPolicy(
        settings.session_retention_seconds if args.session_retention_seconds is None else args.session_retention_seconds,
        settings.audit_retention_days if args.audit_retention_days is None else args.audit_retention_days,
        settings.webhook_delivery_retention_days if args.webhook_delivery_retention_days is None
        else args.webhook_delivery_retention_days,
    )
    purged = asyncio.run(purge(settings, policy))
    if purged is None:
        print("another process is purging right now; nothing done", file=sys.stderr)
        return 3
    audit = (f"{purged['audit_events']} audit events older than {policy.audit_retention_days} days"
             if policy.audit_retention_days else "no audit events (retention 0 keeps them)")
    deliveries = (f"{purged['webhook_deliveries']} finished webhook deliveries older than "
                  f"{policy.webhook_delivery_retention_days} days" if policy.webhook_delivery_retention_days
                  else "no webhook deliveries (retention 0 keeps them)")
    print(f"deleted {purged['sessions']} ended sessions (ended more than {policy.session_retention_seconds}s ago), "
          f"{audit} and {deliveries}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from app.worker.main import main as worker_main

    return worker_main([*(["--host", args.host] if args.host else []),
                        *(["--port", str(args.port)] if args.port is not None else [])])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="Storefront API commands")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API with uvicorn")
    serve.add_argument("--host", default=os.environ.get("STOREFRONT_HOST", "0.0.0.0"))  # noqa: S104 - a container
    # String defaults: argparse converts them only when `serve` runs, and a bad value is then a
    # usage error naming the option, not a traceback in every other command.
    serve.add_argument("--port", type=int, default=os.environ.get("STOREFRONT_PORT", "8000"))
    serve.add_argument("--workers", type=int, default=os.environ.get("STOREFRONT_WORKERS", "1"))
    serve.add_argument("--forwarded-allow-ips", default=os.environ.get("STOREFRONT_FORWARDED_ALLOW_IPS", "127.0.0.1"),
                       help="proxies whose X-Forwarded-* headers are trusted (comma list, or *)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    serve.set_defaults(func=_serve)

    migrate = commands.add_parser("migrate", help="alembic upgrade, then record the revision reached")
    migrate.add_argument("--revision", default="head")
    how = migrate.add_mutually_exclusive_group()
    how.add_argument("--plan", action="store_true",
                     help="change nothing: report the pending revisions, classified safe/destructive/locking, as JSON")
    how.add_argument("--pre-deployment", action="store_true",
                     help="stop before the first pending revision marked post_deployment = True")
    migrate.set_defaults(func=_migrate)

    keyset = commands.add_parser("keyset", help="JWT keyset files")
    keyset_commands = keyset.add_subparsers(dest="keyset_command", required=True)
    generate = keyset_commands.add_parser("generate", help="write a new one-key keyset")
    generate.add_argument("--out", required=True)
    generate.add_argument("--alg", choices=["EdDSA", "ES256"], default="EdDSA")
    generate.set_defaults(func=_keyset_generate)

    admin = commands.add_parser("create-admin", help="create the admin account, or promote and reset it")
    admin.add_argument("--email")
    admin.add_argument("--password", help="prefer STOREFRONT_SEED_ADMIN_PASSWORD_FILE: arguments show in ps")
    admin.add_argument("--name")
    admin.set_defaults(func=_create_admin)

    purge = commands.add_parser("purge-expired",
                                help="delete ended sessions, old audit events and old webhook deliveries, once")
    purge.add_argument("--session-retention-seconds", type=int, help="default: STOREFRONT_SESSION_RETENTION_SECONDS")
    purge.add_argument("--audit-retention-days", type=int, help="default: STOREFRONT_AUDIT_RETENTION_DAYS (0 keeps)")
    purge.add_argument("--webhook-delivery-retention-days", type=int,
                       help="default: STOREFRONT_WEBHOOK_DELIVERY_RETENTION_DAYS (0 keeps)")
    purge.set_defaults(func=_purge_expired)

    worker = commands.add_parser("worker", help="the queue worker: relay, consumer, webhooks, order expiry")
    worker.add_argument("--host", help="default: STOREFRONT_WORKER_HOST (0.0.0.0)")
    worker.add_argument("--port", type=int, help="default: STOREFRONT_WORKER_PORT (8081)")
    worker.set_defaults(func=_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in ("serve", "worker"):
        from app.core.logging import configure_logging

        settings_level = os.environ.get("STOREFRONT_LOG_LEVEL", "INFO")
        configure_logging(settings_level, json_logs=os.environ.get("STOREFRONT_LOG_JSON", "true").lower() != "false")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
