"""The conversion pipeline: blocks -> reconstruction -> exposure -> writer.

Three threads share the work so that file I/O overlaps compute: a reader thread cuts the recording
into blocks, the calling thread reconstructs them, and a writer thread encodes the frames. Bounded
queues between them keep memory flat. An error in any thread stops all three and is re-raised in
the caller; the caller then aborts the writer (use it as a context manager), so no partial output
is left.

Ctrl-C (SIGINT) and SIGTERM do not raise wherever the main thread happens to be: a
KeyboardInterrupt thrown inside native code (PyTorch's, for one) can abort the whole process. The
first one asks the pipeline to stop; it raises `signals.Interrupted` (a KeyboardInterrupt) at the
next block boundary, after stopping the threads. A second Ctrl-C raises at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np

from spk2vid_cli.exposure import AUTO_FIT_FRAMES, Exposure
from spk2vid_cli.signals import STOP_SIGNALS, Interrupted, stop_requests
from spk2vid_cli.spikes import DEFAULT_SPIKE_RATE, SpikeRecording
from spk2vid_cli.windows import Block, iter_blocks
from spk2vid_cli.writers import FrameInfo, FrameWriter
from spk2vid_model.geometry import STRIDE

QUEUE_SIZE = 4
POLL_S = 0.1
_END = object()


class Reconstructor(Protocol):
    """What the pipeline needs from TFP, TFI and the network."""

    scale: int
    window: int
    description: str

    def reset(self) -> None:
        """Forget earlier blocks: the next one starts a new stream."""

    def reconstruct(self, block: Block) -> np.ndarray:
        """The block's `(H*scale, W*scale)` float32 image in firing-rate units."""


class _Stopped(Exception):
    """Raised in a thread waiting on a channel once the pipeline has been stopped."""


class _Channel:
    """A bounded queue whose blocking calls give up once `halt` is set."""

    def __init__(self, halt: threading.Event):
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._halt = halt

    def put(self, item: Any) -> None:
        while not self._halt.is_set():
            try:
                return self._queue.put(item, timeout=POLL_S)
            except queue.Full:
                pass
        raise _Stopped

    def __iter__(self) -> Iterator[Any]:
        """Items until the end marker."""
        while True:
            item = self._get()
            if item is _END:
                return
            yield item

    def _get(self) -> Any:
        while not self._halt.is_set():
            try:
                return self._queue.get(timeout=POLL_S)
            except queue.Empty:
                pass
        raise _Stopped


class _Worker(threading.Thread):
    """Runs `work()`; keeps its error and sets `halt` so the other threads stop too."""

    def __init__(self, name: str, work: Callable[[], None], halt: threading.Event):
        super().__init__(name=name, daemon=True)
        self.work, self.halt = work, halt
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.work()
        except _Stopped:
            pass
        except BaseException as err:
            self.error = err
            self.halt.set()


def _read_blocks(blocks: Iterable[Block], channel: _Channel) -> None:
    for block in blocks:
        channel.put(block)
    channel.put(_END)


def _write_frames(channel: _Channel, writer: FrameWriter, progress: Callable[[int], None] | None) -> None:
    for done, (frame, info) in enumerate(channel, start=1):
        writer.write(frame, info)
        if progress:
            progress(done)


def _send(pending: list[tuple[np.ndarray, FrameInfo]], exposure: Exposure, channel: _Channel) -> int:
    """Fit the exposure if still needed, queue the pending frames for writing, empty the list."""
    if not pending:
        return 0
    exposure.fit([image for image, _ in pending])
    for image, info in pending:
        channel.put((exposure.apply(image), info))
    count = len(pending)
    pending.clear()
    return count


def convert(
    recording: SpikeRecording,
    reconstructor: Reconstructor,
    writer: FrameWriter,
    exposure: Exposure,
    *,
    stride: int = STRIDE,
    start: int = 0,
    end: int | None = None,
    spike_rate: float = DEFAULT_SPIKE_RATE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Reconstruct every block of `recording` in `[start, end)` into `writer`; return the frame count.

    `progress(done)` is called from the writer thread after each frame. The writer is neither
    closed nor aborted here: that is the caller's job (`with open_writer(...) as writer:`).
    """
    reconstructor.reset()  # a new stream: no recurrent state from an earlier file
    halt = threading.Event()
    blocks, frames = _Channel(halt), _Channel(halt)
    block_source = iter_blocks(recording, reconstructor.window, stride, start, end)
    reader = _Worker("spk2vid-reader", lambda: _read_blocks(block_source, blocks), halt)
    writing = _Worker("spk2vid-writer", lambda: _write_frames(frames, writer, progress), halt)
    sent, interrupted = 0, []

    def ask_to_stop(signum: int) -> None:
        interrupted.append(signum)
        halt.set()

    with stop_requests(ask_to_stop, STOP_SIGNALS):
        reader.start()
        writing.start()
        try:
            pending: list[tuple[np.ndarray, FrameInfo]] = []
            for block in blocks:
                info = FrameInfo(block.index, block.centre, block.centre / spike_rate * 1e6)
                pending.append((reconstructor.reconstruct(block), info))
                if not exposure.needs_fit or len(pending) >= AUTO_FIT_FRAMES:
                    sent += _send(pending, exposure, frames)
            sent += _send(pending, exposure, frames)  # a range shorter than AUTO_FIT_FRAMES blocks
            frames.put(_END)
            writing.join()
        except _Stopped:
            pass  # Ctrl-C or a failed worker: raised below
        finally:
            halt.set()
            reader.join()
            writing.join()
    if interrupted:
        raise Interrupted(interrupted[0])
    for worker in (reader, writing):
        if worker.error is not None:
            raise worker.error
    return sent
