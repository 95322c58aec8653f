"""Tiny recordings and CLI runners shared by the I/O, CLI and batch tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spk2vid_cli.spikes import write_config, write_dat

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "real"
REAL_OUTDOOR = REAL / "Evin-X_SpikingSIM" / "real_spike.npz"
REAL_MONITOR = REAL / "chenkang455_Spike-Zoo" / "uhsr.npz"
REDS_BASE = REAL / "chenkang455_Spike-Zoo" / "reds_base"


def needs_shared(*paths: Path) -> pytest.MarkDecorator:
    """Files in ../shared beside the checkout, not in the repository: tests that read them skip elsewhere
    (a fresh clone), unless SPK2VID_REAL_REQUIRED=1 (CI) makes their absence a failure."""
    return pytest.mark.skipif(
        not all(path.exists() for path in paths) and os.environ.get("SPK2VID_REAL_REQUIRED") != "1",
        reason=f"{', '.join(p.name for p in paths)} not in {REAL} (../shared beside the repository); "
               "a fresh clone lacks them")


needs_real = needs_shared(REAL_OUTDOOR, REAL_MONITOR)


def random_frames(num_frames: int, height: int, width: int, rate: float = 0.3, seed: int = 0) -> np.ndarray:
    """`(T, H, W)` 0/1 spikes firing with probability `rate` per frame."""
    return (np.random.default_rng(seed).random((num_frames, height, width)) < rate).astype(np.uint8)


def write_recording(path: Path, num_frames: int = 60, height: int = 6, width: int = 10, seed: int = 0) -> np.ndarray:
    """A `.dat` at `path` with a `config.yaml` beside it; returns the upright frames."""
    frames = random_frames(num_frames, height, width, seed=seed)
    write_dat(path, [frames])
    write_config(path.parent, height, width)
    return frames


def run_cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    """Run `spk2vid ARGS` in-process: (exit code, stdout, stderr)."""
    from spk2vid_cli.commands.app import main

    with pytest.raises(SystemExit) as exited:
        main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def spawn_cli(*args: object, preexec_fn=None, **popen: object) -> subprocess.Popen:
    """Start `python -m spk2vid_cli ARGS` as a child process with stdout/stderr piped."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen([sys.executable, "-m", "spk2vid_cli", *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn,
                            **popen)


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative name -> content), to check nothing else appeared or changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def error_line(stderr: str) -> str:
    """The single `error: ...` line a failed command printed (asserting there is exactly one)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def limit_file_size(limit: int):
    """A `preexec_fn` that caps file size (RLIMIT_FSIZE) so writes fail with EFBIG, like a full disk."""
    import resource
    import signal

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply
