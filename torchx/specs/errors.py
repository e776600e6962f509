"""The error tree: every error torchx raises on purpose derives from :py:class:`TorchXError`.

Each class carries the CLI exit code it maps to (``exit_code``): 2 for the user's own input
(a bad option, handle, name or value: fix the command line), 1 for everything else (a missing
app, a failed job, a backend that said no). Errors the user caused that upstream raises as
``ValueError``/``KeyError`` are subclasses of those too, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchx.util.suggest import suggest

if TYPE_CHECKING:
    from torchx.specs.status import AppStatus

__all__ = [
    "AppStatusError", "InvalidRunConfigException", "MalformedAppHandleException", "TorchXError",
    "UnknownAppException", "UnknownSchedulerException", "UsageError", "UserKeyError",
]


class TorchXError(Exception):
    """Root of every error torchx raises on purpose; messages say what to do next."""

    exit_code: int = 1
    """The ``torchx`` command's exit status when this error ends it."""


class UsageError(TorchXError, ValueError):
    """The user's input is wrong (an option, a value, a name): exit code 2."""

    exit_code = 2


class UserKeyError(TorchXError, KeyError):
    """A name the user gave is not known, where upstream raises ``KeyError``: exit code 2.

    ``str()`` is the message itself (a bare ``KeyError`` would print its repr).
    """

    exit_code = 2

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownAppException(TorchXError):
    """The scheduler has no app with this id (never submitted, or deleted)."""

    def __init__(self, app_handle: str) -> None:
        super().__init__(
            f"unknown app `{app_handle}`: check the handle (`torchx list` shows the apps)"
            " or whether it was deleted"
        )
        self.app_handle = app_handle


class UnknownSchedulerException(TorchXError):
    """No scheduler is registered under this name."""

    exit_code = 2

    def __init__(self, scheduler: str, known: list[str] | None = None) -> None:
        msg = f"unknown scheduler `{scheduler}`"
        if known:
            msg += suggest(scheduler, known, what="schedulers")
        super().__init__(msg)
        self.scheduler = scheduler


class InvalidRunConfigException(UsageError):
    """A run option is unknown, missing or of the wrong type."""


class MalformedAppHandleException(UsageError):
    """An app handle does not have the form ``{scheduler}://{session_name}/{app_id}``."""

    def __init__(self, app_handle: str) -> None:
        super().__init__(
            f"malformed app handle `{app_handle}`: expected"
            " `{scheduler}://{session_name}/{app_id}`, e.g. `local_cwd://torchx/echo-a1b2c3`"
        )
        self.app_handle = app_handle


class AppStatusError(TorchXError):
    """Raised by :py:meth:`AppStatus.raise_for_status` when an app did not succeed."""

    def __init__(self, status: AppStatus, *args: object) -> None:
        super().__init__(f"app did not succeed: {status.state.name}: {status.msg}", *args)
        self.status = status
