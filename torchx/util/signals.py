"""SIGTERM as an exception, so code waiting on a job can clean up (cancel it) like on Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class SignalException(Exception):
    """A termination signal turned into an exception; ``sigval`` is the signal number."""

    def __init__(self, msg: str, sigval: int) -> None:
        super().__init__(msg)
        self.sigval = sigval


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block SIGTERM raises :py:class:`SignalException` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGTERM, previous)  # a second SIGTERM acts as usual
        raise SignalException(f"got {signal.Signals(signum).name}", signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
