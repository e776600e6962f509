"""local_cwd's image providers (upstream's reference classes): where replicas start, img_root."""

from __future__ import annotations

from pathlib import Path

import pytest

import torchx.specs as specs
from torchx.runner import get_runner
from torchx.schedulers.local_scheduler import (
    CWDImageProvider,
    LocalDirectoryImageProvider,
    LocalSchedulerError,
    PopenRequest,
    SignalException,
)

pytestmark = pytest.mark.timeout(120)


def _app(image: str) -> specs.AppDef:
    return specs.AppDef("where", roles=[specs.Role(
        "r", image=image, entrypoint="sh",
        args=["-c", f'echo "$(pwd) {specs.macros.img_root}"'])])


def test_local_directory_provider_runs_each_role_in_its_image(
    home: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "img"
    image.mkdir()
    monkeypatch.chdir(tmp_path)
    with get_runner(kill_grace=1.0, image_provider_class=LocalDirectoryImageProvider) as r:
        info = r.dryrun(_app(str(image)), "local_cwd")
        assert isinstance(info.request, PopenRequest)
        assert f"(in {image})" in repr(info)
        handle = r.schedule(info)
        status = r.wait(handle, wait_interval=0.1)
        assert status is not None and status.state == specs.AppState.SUCCEEDED
        assert "".join(r.log_lines(handle, "r", 0)).strip() == f"{image} {image}"
        with pytest.raises(LocalSchedulerError, match="not a directory"):
            r.dryrun(_app(str(tmp_path / "missing")), "local_cwd")


def test_cwd_provider_is_the_default(home: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert CWDImageProvider().fetch("anything") == str(tmp_path)
    with get_runner(kill_grace=1.0) as r:
        handle = r.run(_app("ignored"), "local_cwd")
        status = r.wait(handle, wait_interval=0.1)
        assert status is not None and status.state == specs.AppState.SUCCEEDED
        assert "".join(r.log_lines(handle, "r", 0)).strip() == f"{tmp_path} {tmp_path}"


def test_signal_exception_carries_the_signal() -> None:
    e = SignalException("got SIGTERM", 15)
    assert e.sigval == 15 and str(e) == "got SIGTERM"
