"""The one Redis client: standalone (``STOREFRONT_REDIS_URL``) or cluster
(``STOREFRONT_REDIS_CLUSTER_NODES``), with short timeouts so an outage fails fast."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from app.core.config import Settings

RedisClient = Redis | RedisCluster
# Connections per process (redis-py's default is 100). Every request in flight may need one at
# the same moment (session check, rate-limit sync, cache); running out reads as an outage and
# sends session checks to PostgreSQL, so the bound is far above the concurrency a worker serves.
MAX_CONNECTIONS = 1000

_client: RedisClient | None = None


def parse_cluster_nodes(value: str) -> list[ClusterNode]:
    """``host:port,host:port`` → cluster nodes; refuses an empty or malformed list."""
    nodes: list[ClusterNode] = []
    for item in (part.strip() for part in value.replace("\n", ",").split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"Redis cluster node {item!r} is not host:port")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    if not nodes:
        raise ValueError("STOREFRONT_REDIS_CLUSTER_NODES is empty in cluster mode")
    return nodes


def build_redis(settings: Settings) -> RedisClient:
    timeout = settings.redis_socket_timeout_seconds
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    # One quick retry hides a dropped connection; more would only stretch an outage.
    retry = Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1)
    if settings.redis_mode == "cluster":
        return RedisCluster(
            startup_nodes=parse_cluster_nodes(settings.redis_cluster_nodes),
            password=password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=retry,
            require_full_coverage=True,
        )
    kwargs = {"password": password} if password else {}
    return Redis.from_url(
        settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=retry,
        health_check_interval=30, max_connections=MAX_CONNECTIONS, **kwargs,
    )


def init_redis(settings: Settings) -> RedisClient:
    """Creates the client without connecting: a Redis outage at start-up must not stop the app."""
    global _client
    _client = build_redis(settings)
    return _client


def get_redis() -> RedisClient:
    if _client is None:
        raise RuntimeError("Redis client not initialised")
    return _client


async def close_redis() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
    _client = None
