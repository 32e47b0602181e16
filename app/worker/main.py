"""``python -m app.worker [--host H] [--port P]``: runs every worker loop until SIGTERM/SIGINT.

On SIGTERM the consumer stops reading (what it holds and has not finished stays pending for
another worker's XAUTOCLAIM), deliveries in flight get up to 20 s to finish (the rest are
given back when their lease runs out), and the process exits 0, well within 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys

import uvicorn

from app.core.config import Settings
from app.core.db import dispose_engine, engines, get_sessionmaker, init_engine
from app.core.logging import configure_logging
from app.core.metrics import instrument_engine
from app.core.redis import close_redis, init_redis
from app.core.security.crypto import PiiCipher, decode_key
from app.core.tracing import start_tracing
from app.services import cache
from app.worker.consumer import Consumer
from app.worker.deliveries import run_deliveries
from app.worker.expiry import run_expiry
from app.worker.http import build_app
from app.worker.relay import run_relay

log = logging.getLogger("storefront.worker")
TRACE_ROOTS = frozenset({"event.handle", "webhook.deliver", "order.expire"})
SHUTDOWN_SECONDS = 25.0


class _Server(uvicorn.Server):
    """The worker handles the signals itself."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def consumer_name(settings: Settings) -> str:
    return settings.worker_consumer_name or socket.gethostname()


def _cipher(settings: Settings) -> PiiCipher:
    def secret(value) -> str | None:
        return value.get_secret_value() if value is not None else None

    return PiiCipher(decode_key(secret(settings.pii_encryption_key), "STOREFRONT_PII_ENCRYPTION_KEY"),
                     decode_key(secret(settings.blind_index_key), "STOREFRONT_BLIND_INDEX_KEY"))


async def run(settings: Settings, host: str, port: int) -> int:
    cipher = _cipher(settings)  # a missing PII key stops the worker at once, with the setting named
    instrument_engine(init_engine(settings))
    redis = init_redis(settings)
    # Traced like the API when an OTLP endpoint is set: SQL, Redis and the webhook calls.
    if "trace_service_name" not in settings.model_fields_set:
        settings = settings.model_copy(update={"trace_service_name": "storefront-worker"})
    # A trace starts only from the handling of an event, a delivery or an expiry (each continues
    # the request's trace when its event carries one); the loops' polling statements start none.
    tracing = start_tracing(settings, roots=TRACE_ROOTS)
    if tracing is not None:
        tracing.instrument_engines(engines())
        tracing.instrument_redis(redis)
        tracing.instrument_httpx()
    cache.configure(0)
    sessionmaker = get_sessionmaker()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    wake = asyncio.Event()
    consumer = Consumer(sessionmaker, redis, settings, consumer_name(settings), stop, wake)
    server = _Server(uvicorn.Config(build_app(sessionmaker, redis, lambda: consumer.joined), host=host, port=port,
                                    log_config=None, access_log=False, lifespan="off", server_header=False))
    loops = {
        "relay": run_relay(sessionmaker, redis, settings, stop),
        "consumer": consumer.run(),
        "deliveries": run_deliveries(sessionmaker, cipher, settings, stop, wake),
        "expiry": run_expiry(sessionmaker, settings, stop),
    }
    tasks = [loop.create_task(coro, name=name) for name, coro in loops.items()]
    failed: list[str] = []

    def on_done(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None and not stop.is_set():
            log.error("worker loop %s crashed: %r", task.get_name(), task.exception())
            failed.append(task.get_name())
            stop.set()

    for task in tasks:
        task.add_done_callback(on_done)
    serving = loop.create_task(server.serve(), name="http")
    log.info("worker %s started (http on %s:%d)", consumer.name, host, port)
    try:
        await stop.wait()
        log.info("worker %s stopping", consumer.name)
        _done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.should_exit = True
        await asyncio.gather(serving, return_exceptions=True)
        await cache.cancel_pending()
        await close_redis()
        await dispose_engine()
        if tracing is not None:
            tracing.stop()
    log.info("worker %s stopped", consumer.name)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=None, help="default: STOREFRONT_WORKER_HOST (0.0.0.0)")
    parser.add_argument("--port", type=int, default=None, help="default: STOREFRONT_WORKER_PORT (8081)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    host = args.host or settings.worker_host
    port = args.port if args.port is not None else settings.worker_port
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    return runner(run(settings, host, port))


if __name__ == "__main__":
    sys.exit(main())
