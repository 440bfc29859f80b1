"""One base for every error the user can cause, so the CLI turns each into a message and exit 1 in
one place (`reconciler.cli`, `_Commands.invoke`), never a traceback.

    UserError
    ├── diagnostics.InvalidSchedules        schedule or config files with problems at file:line
    │   └── usecases.config.ConfigFileError the project config cannot be read or is invalid
    ├── views.savedplan.SavedPlanError      a saved plan that is not one, or of another format version
    ├── usecases.importing.ImportConflict   import would overwrite files, or would not read back
    ├── usecases.importing.ImportRefused    import ID... named schedules it cannot import
    ├── desired.yamlwrite.FileWriteError    a file that must not be written (not a regular file)
    ├── usecases.lock.LockHeld              another run holds this checkout
    ├── usecases.removals.GitStateError     --prune-since cannot be answered (no git, unknown REF)
    ├── usecases.planning.PlanRefused       options that cannot make a plan that means what they say
    ├── CommandFailed                       a command that cannot go on (no key, a refused or stale
    │                                       plan, a cancelled apply, a failed job, a sandbox that
    │                                       cannot start), said by the command itself
    └── remote.client.errors.HolisticsError anything the API or the network answered (its own tree)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class UserError(Exception):
    """Shown as its `details` (one a line, e.g. each problem at its file and line), then `str(self)`."""

    def details(self) -> Sequence[str]:
        return ()


class CommandFailed(UserError):
    """A command that cannot go on, in its own words (not a file's problem, not the API's answer)."""


class ExitCode(IntEnum):
    """Every command's exit statuses. A usage error is ERROR too, so CHANGES always means "changes"."""

    OK = 0
    ERROR = 1
    CHANGES = 2  # plan --detailed-exitcode only
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
