"""torchx.settings names the environment variables upstream's module names, with the same values."""

from __future__ import annotations

import torchx.settings as settings


def test_upstream_names_and_values() -> None:
    assert settings.ENV_TORCHXCONFIG == "TORCHXCONFIG"
    assert settings.ENV_TORCHX_TRACKERS == "TORCHX_TRACKERS"
    assert settings.ENV_TORCHX_PARENT_RUN_ID == "TORCHX_PARENT_RUN_ID"
    assert settings.ENV_TORCHX_JOB_ID == "TORCHX_JOB_ID"
    assert settings.ENV_TORCHX_INTERNAL_SESSION_ID == "TORCHX_INTERNAL_SESSION_ID"
    assert settings.ENV_TORCHX_IMAGE == "TORCHX_IMAGE"


def test_every_name_is_its_value_with_env_prefix() -> None:
    for name in settings.__all__:
        value = getattr(settings, name)
        assert name == "ENV_" + value, name


def test_the_modules_that_read_them_agree() -> None:
    from torchx.runner import config
    from torchx.tracker import api

    assert config.ENV_TORCHXCONFIG == settings.ENV_TORCHXCONFIG
    assert api.ENV_TORCHX_TRACKERS == settings.ENV_TORCHX_TRACKERS
