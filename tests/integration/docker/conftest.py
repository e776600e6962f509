"""A real Docker Engine (started by ``scripts/backends/docker.sh start``) for the local_docker tests.

Every container a test starts carries the session label of this test run and is removed after
the test; workspace images the tests build are removed at the end of the session, and so is the
``torchx`` network if this run created it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.backends import require

BUSYBOX = "local/busybox:1"
PYTORCH = "local/python-torch:2.13.0"
REGISTRY = "127.0.0.1:5050"
SESSION = f"itest{os.getpid()}"
START = "run `scripts/backends/docker.sh start`"


@pytest.fixture(scope="session", autouse=True)
def _private_build_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Workspace build lineages of this run go to a temporary directory, not ~/.cache."""
    old = os.environ.get("TORCHX_CACHE_DIR")
    os.environ["TORCHX_CACHE_DIR"] = str(tmp_path_factory.mktemp("torchx-cache"))
    yield
    if old is None:
        os.environ.pop("TORCHX_CACHE_DIR", None)
    else:
        os.environ["TORCHX_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    from torchx.specs import TorchXError
    from torchx.workspace.docker_workspace import connect

    try:
        c = connect()
    except TorchXError as e:
        require("docker", False, f"{e}")
        raise
    missing = [i for i in (BUSYBOX, PYTORCH) if not c.images.list(name=i)]
    require("docker", not missing, f"test images {missing} are not built: {START}")
    had_network = any(n.name == "torchx" for n in c.networks.list(names=["torchx"]))
    images_before = {t for img in c.images.list() for t in img.tags}
    yield c
    for img in c.images.list():
        for tag in img.tags:
            if tag not in images_before and tag.startswith(("torchx-workspace:", REGISTRY)):
                c.images.remove(tag, force=True)
    if not had_network:
        import docker.errors

        for net in c.networks.list(names=["torchx"]):
            if net.name == "torchx":  # the filter also matches names containing it
                try:
                    net.remove()
                except docker.errors.APIError:  # another test run's containers still use it
                    pass
    c.close()


def remove_session_containers(client: Any) -> None:
    from torchx.schedulers.docker_scheduler import LABEL_SESSION

    for s in client.api.containers(all=True, filters={"label": f"{LABEL_SESSION}={SESSION}"}):
        client.api.remove_container(s["Id"], force=True)


@pytest.fixture
def sched(client: Any) -> Iterator[Any]:
    """A local_docker scheduler for this test run; its containers are removed afterwards."""
    from torchx.schedulers.docker_scheduler import create_scheduler

    s = create_scheduler(SESSION, docker_client=client)
    yield s
    remove_session_containers(client)


@pytest.fixture
def runner(client: Any) -> Iterator[Any]:
    """A Runner whose apps land in this test run's session; its containers are removed after."""
    from torchx.runner import get_runner

    with get_runner(SESSION) as r:
        yield r
    remove_session_containers(client)
