"""The worker process (``python -m app.worker``): the outbox relay, the stream consumer, the
webhook delivery loop and the order-expiry sweep, with /health, /ready and /metrics on its own
port. See docs/ARCHITECTURE.md ("Events and the queue")."""
