"""Ctrl-C and SIGTERM as requests to stop at a safe point, not exceptions raised wherever the main
thread happens to be (a KeyboardInterrupt thrown inside native code, PyTorch's for one, can abort
the whole process). Outside such a section SIGTERM (what Slurm sends at a time limit) raises
`Interrupted`, like Ctrl-C raises KeyboardInterrupt, so cleanup runs and nothing is left behind."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop asked by signal `signum`; the process exits with `exit_code` = 128 + signum (130 for
    Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


@contextmanager
def terminate_raises() -> Iterator[None]:
    """While inside, SIGTERM raises `Interrupted(SIGTERM)` in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def stop_requests(on_signal: Callable[[int], None],
                  signals: tuple[int, ...] = (signal.SIGINT,)) -> Iterator[None]:
    """While inside, each of `signals` calls `on_signal(signum)` instead of its handler. The first one
    also gives SIGINT its handler back, so a second Ctrl-C interrupts at once. Handlers belong to the
    main thread: elsewhere this changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ask(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, previous[signal.SIGINT])
        on_signal(signum)

    previous = {sig: signal.getsignal(sig) for sig in {*signals, signal.SIGINT}}
    if previous[signal.SIGINT] is None:  # set outside Python: fall back to Python's own
        previous[signal.SIGINT] = signal.default_int_handler
    for sig in signals:
        signal.signal(sig, ask)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
