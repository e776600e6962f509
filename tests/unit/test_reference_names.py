"""Reference classes and helpers upstream's docs name exist at upstream's import paths (issue 11).

The image providers, PopenRequest and SignalException are exercised for real in
tests/integration/local/test_image_providers.py; here: the others."""

from __future__ import annotations

import pytest

from torchx.components import utils
from torchx.specs.file_linter import get_fn_docstring


def test_local_scheduler_names() -> None:
    from torchx.schedulers import local_scheduler as ls

    assert ls.PopenRequest is ls.LocalRequest
    assert issubclass(ls.LocalDirectoryImageProvider, ls.ImageProvider)
    assert issubclass(ls.CWDImageProvider, ls.ImageProvider)
    assert issubclass(ls.SignalException, Exception)


def test_slurm_replica_request() -> None:
    from torchx.schedulers.slurm_scheduler import SlurmReplica, SlurmReplicaRequest

    assert SlurmReplicaRequest is SlurmReplica


def test_has_docker_answers_without_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchx.schedulers.docker_scheduler import has_docker

    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")  # nothing listens there
    assert has_docker() is False


def test_get_fn_docstring_with_a_docstring() -> None:
    desc, args = get_fn_docstring(utils.echo)
    assert desc.startswith("Prints a message to stdout")
    assert set(args) == {"msg", "image", "num_replicas"}
    assert args["msg"] == "the message to print"


def test_get_fn_docstring_without_one() -> None:
    def bare(a: int, b: str = "x") -> None:
        pass

    desc, args = get_fn_docstring(bare)
    assert desc.startswith("bare TIP: improve this help string by adding a docstring\n")
    assert "component_best_practices.html" in desc
    assert args == {"a": " ", "b": " "}
