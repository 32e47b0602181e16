"""Ctrl-C and SIGTERM as one exception, so a script's ``finally`` blocks do the clean-up."""

from __future__ import annotations

import signal


class StopRequested(Exception):
    """Raised in the main thread when SIGINT or SIGTERM arrives; the message names the signal."""


def _stop_requested(signum: int, frame) -> None:
    # Clean-up runs once: a second signal during it must not cut it short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise StopRequested(signal.Signals(signum).name)


def raise_on_stop_signals() -> None:
    signal.signal(signal.SIGTERM, _stop_requested)
    signal.signal(signal.SIGINT, _stop_requested)
