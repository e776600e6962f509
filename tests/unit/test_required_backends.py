"""tests.backends: which missing backends fail a test instead of skipping it."""

from __future__ import annotations

import pytest

from tests.backends import is_required, require


@pytest.mark.parametrize(("value", "slurm", "ray"), [
    ("", False, False),
    ("slurm,docker", True, False),
    (" slurm , ray ", True, True),
    ("1", True, True),
    ("TRUE", True, True),
    ("all", True, True),
])
def test_a_list_names_backends_and_a_true_value_means_all(
        monkeypatch: pytest.MonkeyPatch, value: str, slurm: bool, ray: bool) -> None:
    monkeypatch.setenv("TORCHX_REQUIRE_BACKENDS", value)
    assert (is_required("slurm"), is_required("ray")) == (slurm, ray)


def test_a_required_backend_that_is_missing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHX_REQUIRE_BACKENDS", "1")
    with pytest.raises(pytest.fail.Exception, match="backend `ray` is required"):
        require("ray", False, "no cluster")
    monkeypatch.setenv("TORCHX_REQUIRE_BACKENDS", "slurm")
    with pytest.raises(pytest.skip.Exception, match="backend `ray` unavailable: no cluster"):
        require("ray", False, "no cluster")
    require("ray", True, "never said")  # available: nothing happens
