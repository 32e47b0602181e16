"""Throw-away PostgreSQL, Redis and Kubernetes control plane on loopback.

Used by the test suite as session fixtures and by ``hack/run-local.sh`` to run the
platform on a developer machine. Every component starts in a temporary directory on
free loopback ports and is stopped by :meth:`stop` (or at interpreter exit).
"""

from .errors import ComponentError
from .kube import ControlPlane
from .postgres import PostgresServer, PostgresStandby
from .redis import RedisCluster, RedisServer

__all__ = ["ComponentError", "ControlPlane", "PostgresServer", "PostgresStandby", "RedisCluster", "RedisServer"]
