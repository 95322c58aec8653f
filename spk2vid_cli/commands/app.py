"""The `spk2vid` command line: a thin typer layer over the Python API.

Each command lives in `spk2vid_cli/commands/<name>.py`; this file only assembles them and turns
errors into one-line messages and meaningful exit codes (see `errors.py`).
"""

import functools
import sys
from collections.abc import Callable

import typer
from typer.exceptions import TyperException

from spk2vid_cli import __version__
from spk2vid_cli.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, Spk2VidError
from spk2vid_cli.signals import Interrupted, terminate_raises

app = typer.Typer(
    name="spk2vid",
    help="Turn spike-camera recordings (.dat, .npy, .npz) into high-resolution video.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"spk2vid {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Turn spike-camera recordings (.dat, .npy, .npz) into high-resolution video."""


def _signal_exit_code(command: Callable[..., None]) -> Callable[..., None]:
    """The command, with a stop by signal turned into its exit code (130 or 143): typer would report
    any KeyboardInterrupt as 130."""

    @functools.wraps(command)
    def run(*args: object, **kwargs: object) -> None:
        try:
            command(*args, **kwargs)
        except Interrupted as err:
            raise typer.Exit(err.exit_code) from None

    return run


def _register() -> None:
    from spk2vid_cli.commands import convert, evaluate, info, simulate, train

    # A one-line summary each for `spk2vid --help` (80 columns); `spk2vid COMMAND --help` shows the
    # command's whole docstring.
    commands = {
        "info": (info.info, "Resolution, length, firing rates, dead and hot pixels."),
        "convert": (convert.convert, "Reconstruct recordings into high-resolution video."),
        "simulate": (simulate.simulate, "Simulate spike recordings from images or video."),
        "train": (train.train, "Train Spk2VidNet on simulated streams (resumable, time-limited)."),
        "eval": (evaluate.evaluate, "Score the network and classical methods against ground truth."),
    }
    for name, (command, summary) in commands.items():
        app.command(name, short_help=summary)(_signal_exit_code(command))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: run a command, exit with its code."""
    if not app.registered_commands:  # once: main() may run many times in one process (tests)
        _register()
    try:
        with terminate_raises():
            code = app(args=argv, standalone_mode=False)
    except Spk2VidError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except (KeyboardInterrupt, typer.Abort):  # typer itself reports a KeyboardInterrupt as 130
        code = EXIT_INTERRUPTED
    except typer.Exit as err:
        code = err.exit_code
    except TyperException as err:  # usage errors: typer prints them with a hint
        err.show()
        sys.exit(err.exit_code)
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        what = "interrupted" if code == EXIT_INTERRUPTED else "terminated (SIGTERM)"
        print(f"error: {what}; no partial output was left behind", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
