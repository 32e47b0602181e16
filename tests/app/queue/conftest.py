"""Queue fixtures: the app's settings with loopback webhook targets allowed (the receivers run
on loopback) and short retry delays; the app's engine and Redis client for direct checks."""

from __future__ import annotations

import pytest

from app.core.db import get_sessionmaker
from app.core.redis import get_redis


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={
        "webhook_allow_private_targets": True,
        "webhook_timeout_seconds": 2.0,
        "webhook_backoff_base_seconds": 0.05,
        "queue_retry_base_seconds": 0.02,
        "queue_claim_idle_seconds": 0.5,
        "outbox_poll_interval_seconds": 0.05,
    })


@pytest.fixture
def sessionmaker(app):
    return get_sessionmaker()


@pytest.fixture
def redis(app):
    return get_redis()
