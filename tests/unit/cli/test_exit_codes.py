"""Exit codes belong to the exception classes; the CLI reads them instead of matching names."""

from __future__ import annotations

import pytest

from torchx import specs
from torchx.cli.common import UsageError
from torchx.cli.main import exit_code
from torchx.runner.config import ConfigError
from torchx.specs.builders import ComponentArgsError
from torchx.specs.finder import ComponentNotFoundException, ComponentValidationException
from torchx.tracker.api import UnknownTrackerException


class PluginBackendError(specs.TorchXError):
    """A plugin's own error: inherits exit code 1 without declaring one."""


class PluginUsageError(specs.UsageError):
    """A plugin's user error: inherits exit code 2 (and is a ValueError)."""


@pytest.mark.parametrize(("exc", "code"), [
    (specs.InvalidRunConfigException("x"), 2),
    (specs.MalformedAppHandleException("x"), 2),
    (specs.UnknownSchedulerException("x"), 2),
    (ComponentNotFoundException("x"), 2),
    (ComponentValidationException("x"), 2),
    (ComponentArgsError("x"), 2),
    (UnknownTrackerException("x"), 2),
    (ConfigError("x"), 2),
    (UsageError("x"), 2),
    (PluginUsageError("x"), 2),
    (specs.UserKeyError("no such thing"), 2),
    (specs.UnknownAppException("local_cwd://t/x"), 1),
    (specs.AppStatusError(specs.AppStatus(specs.AppState.FAILED)), 1),
    (PluginBackendError("x"), 1),
    (specs.TorchXError("x"), 1),
    (ValueError("a component said no"), 2),
    (KeyError("a message with spaces"), 2),
    (OSError("disk full"), 1),
    (KeyError("bare_key"), None),
    (RuntimeError("bug"), None),
])
def test_exit_code_comes_from_the_class(exc: BaseException, code: int | None) -> None:
    assert exit_code(exc) == code
    if isinstance(exc, specs.TorchXError):
        assert type(exc).exit_code == code


def test_user_errors_are_still_the_builtin_errors_upstream_promises() -> None:
    assert issubclass(specs.InvalidRunConfigException, ValueError)
    assert issubclass(specs.MalformedAppHandleException, ValueError)
    assert issubclass(specs.UserKeyError, KeyError)
    assert str(specs.UserKeyError("unknown named resource `x`")) == "unknown named resource `x`"
