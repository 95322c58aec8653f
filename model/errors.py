"""User-facing errors and the exit codes they map to: the one definition, shared by every layer.

Every error a user can cause is raised as a `Spk2VidError` whose message is one line naming the
file and the fix; the CLI prints it and exits with `exit_code`. `spk2vid_cli.errors` re-exports
these names, so the network and the CLI raise and catch the same classes.
"""

import re

EXIT_OK = 0
EXIT_FAILURE = 1      # unexpected failure, or some files of a batch failed
EXIT_USAGE = 2        # bad flags or bad input file (typer also uses 2 for usage errors)
EXIT_OUTPUT = 3       # output exists, unwritable, or disk full
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143   # SIGTERM, as sent by Slurm at a time limit (128 + SIGTERM)


class Spk2VidError(Exception):
    """An error the user can fix; `str(err)` is the one-line message."""

    exit_code = EXIT_FAILURE


class UsageError(Spk2VidError):
    """A flag or argument is wrong (an output format, a frame rate, a tile size, ...)."""

    exit_code = EXIT_USAGE


class InputError(UsageError):
    """The input recording (or a flag describing it) is wrong."""


class OutputError(Spk2VidError):
    """The output cannot be written: exists, unwritable, disk full."""

    exit_code = EXIT_OUTPUT


def reason(err: Exception) -> str:
    """The first sentence of an exception message (torch's run to paragraphs), for one-line errors."""
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return re.split(r"\.\s", line, maxsplit=1)[0].rstrip(".")
