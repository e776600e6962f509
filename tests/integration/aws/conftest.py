"""A real moto server (``scripts/backends/moto.sh start``) for the aws_batch/aws_sagemaker tests.

Every boto3 client in these tests talks to moto on loopback with fake credentials: nothing
reaches AWS. moto runs each Batch job as real containers on the local Docker Engine (images
``local/busybox:1`` and ``local/python-torch:2.13.0``, built by ``scripts/backends/docker.sh``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.backends import require
from tests.integration.aws import moto_env

START = "run `scripts/backends/moto.sh start`"


@pytest.fixture(scope="session", autouse=True)
def _moto_env() -> Iterator[None]:
    """Point boto3 at moto for the whole session (and restore the environment after)."""
    saved = dict(os.environ)
    moto_env.use_moto()
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def queue() -> str:
    """The Batch job queue the tests submit to (created on moto when missing)."""
    require("moto", moto_env.server_up(), f"no moto server on {moto_env.ENDPOINT}: {START}")
    images = subprocess.run(["docker", "image", "inspect", "local/busybox:1",
                             "local/python-torch:2.13.0"], capture_output=True)
    require("moto", images.returncode == 0,
            "moto runs Batch jobs on Docker, which lacks the test images: run"
            " `scripts/backends/docker.sh start`")
    moto_env.ensure_queue()
    return moto_env.QUEUE


@pytest.fixture(scope="session")
def sm_ready() -> None:
    require("moto", moto_env.server_up(), f"no moto server on {moto_env.ENDPOINT}: {START}")
