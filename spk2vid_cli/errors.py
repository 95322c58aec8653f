"""User-facing errors and the exit codes they map to (defined in the bottom layer, `spk2vid_model.errors`).

Every error a user can cause is raised as a `Spk2VidError` whose message is one line naming the
file and the fix; the CLI prints it and exits with `exit_code`.
"""

from spk2vid_model.errors import (EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_OUTPUT, EXIT_TERMINATED, EXIT_USAGE,
                                  InputError, OutputError, Spk2VidError, UsageError)

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_OUTPUT", "EXIT_TERMINATED", "EXIT_USAGE", "InputError",
           "OutputError", "Spk2VidError", "UsageError"]
