"""Progress on stderr: a rich bar on a terminal, a plain line every few seconds otherwise, or nothing."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

PLAIN_INTERVAL_S = 5.0

Update = Callable[[int], None]


class _FramesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} frames/s" if speed else "- frames/s", style="progress.data.speed")


class _PlainLines:
    """Writes `label: done/total frames (pct), rate, ETA` lines at most every `PLAIN_INTERVAL_S`."""

    def __init__(self, total: int, label: str):
        self.total, self.label = total, label
        self.started = self.last = time.monotonic()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= PLAIN_INTERVAL_S or done == self.total:
            self.last = now
            rate = done / max(now - self.started, 1e-9)
            eta = (self.total - done) / rate if rate else 0.0
            percent = 100.0 * done / max(self.total, 1)
            print(f"{self.label}: {done}/{self.total} frames ({percent:.0f}%), {rate:.1f} frames/s, "
                  f"ETA {eta:.0f} s", file=sys.stderr, flush=True)


@contextmanager
def frame_progress(total: int, label: str, quiet: bool = False) -> Iterator[Update]:
    """Yield `update(done)`, to be called with the number of frames written so far."""
    if quiet:
        yield lambda done: None
    elif sys.stderr.isatty():
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _FramesPerSecond(),
                   TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True)) as bar:
            task = bar.add_task(label, total=total)
            yield lambda done: bar.update(task, completed=done)
    else:
        yield _PlainLines(total, label).update
