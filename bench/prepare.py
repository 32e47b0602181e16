"""Prepares a fresh database for a benchmark or a reliability suite, in its own process:
migrate to head, write a keyset, create the admin. Settings come from the environment, as the
app reads them. ``python -m bench.prepare --keyset PATH --admin-email E`` (password on stdin)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keyset", type=Path, required=True)
    parser.add_argument("--admin-email", required=True)
    args = parser.parse_args()
    password = sys.stdin.read().strip()

    from app.core.config import Settings
    from app.core.migrations import upgrade
    from app.services.bootstrap import create_admin, write_new_keyset

    settings = Settings()
    upgrade(settings.database_url.get_secret_value())
    write_new_keyset(args.keyset)
    asyncio.run(create_admin(settings, args.admin_email, password, "Load Admin"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
