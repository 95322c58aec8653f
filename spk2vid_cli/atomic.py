"""Writing outputs safely: temporary names, no-replace publishing, one writer per output, stale cleanup,
and the one mapping of an `OSError` to a one-line `OutputError`.

A temporary file is `partial_name(path)`: hidden, in the output's directory, tagged with this host and
process id, so a later run can tell the leftovers of a killed process (`remove_stale_partials`) from
those of a process still running, even in a folder shared by several machines. `publish` moves a
finished temporary into place without ever replacing an output that appeared meanwhile (unless asked
to), and `OutputLock` keeps two processes from writing the same output at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterable
from pathlib import Path

from spk2vid_cli.errors import OutputError

DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_NOT_ALLOWED = (errno.EACCES, errno.EPERM, errno.EROFS)
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")
_NO_HARD_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS)
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_PARTIAL = re.compile(r"\.partial-(?P<host>[A-Za-z0-9-]*)-(?P<pid>\d+)(?:\.|$)")


def output_error(path: Path, err: OSError) -> OutputError:
    """A one-line `OutputError` for an `OSError` raised while writing `path`."""
    # numpy's tofile (used by tifffile) reports a short write as "N requested and M written", no errno.
    short_write = err.errno is None and _SHORT_WRITE.search(str(err)) is not None
    if err.errno in DISK_FULL or short_write:
        return OutputError(f"{path}: disk full (or file size limit reached) while writing; "
                           "free space or write elsewhere")
    if err.errno in _NOT_ALLOWED:
        return OutputError(f"{path}: cannot write there ({err.strerror}); choose a writable directory for -o")
    if err.errno == errno.ENOENT:
        missing = next((p for p in reversed(path.parents) if not p.exists()), None)
        if missing is None:  # every directory exists, yet no file can be made there (/proc, /sys)
            return OutputError(f"{path}: cannot create files in {path.parent}; choose a writable directory for -o")
        return OutputError(f"{path}: directory {missing} does not exist; create it or choose another -o")
    if err.errno == errno.ENOTDIR:
        return OutputError(f"{path}: a parent of this path is a file, not a directory; choose another -o")
    if err.errno == errno.EEXIST:
        return OutputError(f"{path}: appeared while this run was writing it (another process?); "
                           "kept it; pass --overwrite to replace it")
    return OutputError(f"{path}: cannot write ({err.strerror or err}); choose another -o")


def partial_name(path: Path, suffix: str = "") -> Path:
    """The temporary name `path` is written under: hidden, beside it, tagged with host and pid."""
    return path.with_name(f".{path.name}.partial-{_HOST}-{os.getpid()}{suffix}")


def discard(path: Path) -> None:
    """Remove a temporary file or folder if it is there; never raises (cleanup must not hide the error
    that caused it, nor fail on a full disk)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def publish(partial: Path, final: Path, *, overwrite: bool) -> None:
    """Move the finished file `partial` to `final`. Without `overwrite`, an output that appeared
    meanwhile is kept and `FileExistsError` raised (hard link, then unlink: never a replacing rename)."""
    if overwrite:
        os.replace(partial, final)
        return
    try:
        os.link(partial, final)
    except OSError as err:
        if err.errno not in _NO_HARD_LINKS:
            raise
        if final.exists():  # a filesystem without hard links: check, then rename (a small race remains)
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final)) from None
        os.replace(partial, final)
        return
    partial.unlink()


def atomic_write(path: Path, write: Callable[[Path], None], *, overwrite: bool = True, suffix: str = "",
                 error: Callable[[Path, OSError], OutputError] = output_error) -> None:
    """Call `write(temporary)` and publish the temporary as `path`; on any failure remove it.
    `suffix` ends the temporary name (some writers pick the format by it). An OSError becomes
    `error(path, err)` (default: `output_error`, whose advice names -o)."""
    path = Path(path)
    partial = partial_name(path, suffix)
    try:
        write(partial)
        publish(partial, path, overwrite=overwrite)
    except OSError as err:
        raise error(path, err) from None
    finally:
        discard(partial)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_partials(directory: Path, names: Iterable[str]) -> list[Path]:
    """Delete the temporaries of outputs `names` in `directory` left by dead processes of this host
    (a SIGKILL leaves them); returns what was removed."""
    prefixes = tuple(f".{name}.partial-" for name in names)
    removed = []
    with contextlib.suppress(OSError):
        for entry in directory.iterdir():
            match = _PARTIAL.search(entry.name)
            if (entry.name.startswith(prefixes) and match and match["host"] == _HOST
                    and not _alive(int(match["pid"]))):
                discard(entry)
                removed.append(entry)
    return removed


class OutputLock:
    """An exclusive claim on an output (`flock` on a hidden `.NAME.partial-lock` beside it), released on
    `release()` or when the process dies, so a kill leaves no stale claim. Raises `OutputError` when
    another process holds it."""

    def __init__(self, output: Path):
        self.path = output.with_name(f".{output.name}.partial-lock")
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputError(f"{output}: another spk2vid process is writing it; wait for it to finish "
                                  "or choose another -o") from None
            except OSError:
                os.close(fd)
                raise
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break  # not unlinked by a previous holder between our open and our lock
            os.close(fd)
        self._fd: int | None = fd

    def release(self) -> None:
        """Remove the lock file and drop the claim; never raises."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None
