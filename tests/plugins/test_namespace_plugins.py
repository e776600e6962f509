"""torchx.plugins: plugins registered from code in ``torchx_plugins.<kind>`` namespace packages
(real packages on sys.path, real imports; the CLI run in a subprocess), beside entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import torchx.specs as specs
from torchx.plugins import (
    HALF,
    WHOLE,
    PluginRegistry,
    PluginType,
    RegistrationError,
    halve_mem_down_to,
    powers_of_two_gpus,
    register,
    registry,
    resource_tags,
)
from torchx.util import entrypoints

FILES = {
    # implicit namespace packages: no __init__.py in torchx_plugins/ or its kinds
    "torchx_plugins/schedulers/my_sched.py": '''
        from torchx.plugins import register


        @register.scheduler(name="local_team")
        def create(session_name: str, **kwargs):
            from torchx.schedulers.local_scheduler import create_scheduler
            return create_scheduler(session_name, **kwargs)


        @register.tracker(name="misplaced")
        def misplaced(config):
            return None
    ''',
    "torchx_plugins/schedulers/broken.py": "raise RuntimeError('this plugin is broken')\n",
    "torchx_plugins/schedulers/_private.py": "raise RuntimeError('never imported')\n",
    "torchx_plugins/named_resources/cluster/hosts.py": '''
        from torchx.plugins import register, powers_of_two_gpus
        from torchx.specs import Resource


        @register.named_resource(aliases=["big_box"], fractionals=powers_of_two_gpus)
        def my_gpu_host(fractional: float = 1.0) -> Resource:
            return Resource(cpu=int(96 * fractional), gpu=int(8 * fractional),
                            memMB=int(800_000 * fractional))


        @register.named_resource(name="gpu.small")
        def site_gpu_small() -> Resource:
            return Resource(cpu=4, gpu=1, memMB=16_000)
    ''',
    "torchx_plugins/named_resources/reexport.py": '''
        from torchx_plugins.named_resources.cluster.hosts import site_gpu_small  # not collected
    ''',
    "torchx_plugins/named_resources/dup.py": '''
        from torchx.plugins import register
        from torchx.specs import Resource


        @register.named_resource(name="my_gpu_host")
        def other() -> Resource:
            return Resource(cpu=1, gpu=0, memMB=1)
    ''',
    "torchx_plugins/tracker/mine.py": '''
        from torchx.plugins import register


        @register.tracker(name="mine")
        def create(config):
            return ("tracker", config)
    ''',
    "torchx_plugins/components/team.py": '''
        import torchx.specs as specs
        from torchx.plugins import register


        @register.component(name="team.hello")
        def hello(who: str = "world") -> specs.AppDef:
            """Says hello.

            Args:
                who: whom to greet
            """
            return specs.AppDef("hello", roles=[
                specs.Role("hello", image="none", entrypoint="echo", args=["hello", who])])
    ''',
}


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "site"
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m.startswith("torchx_plugins")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delenv("TORCHX_PLUGINS_SOURCE", raising=False)
    entrypoints.clear_cache()
    yield root
    for name in [m for m in sys.modules if m.startswith("torchx_plugins")]:
        del sys.modules[name]
    entrypoints.clear_cache()


def test_registry_is_a_singleton() -> None:
    assert registry() is registry() and isinstance(registry(), PluginRegistry)


def test_named_resources_with_aliases_and_fractionals(plugins: Path) -> None:
    whole = specs.resource(h="my_gpu_host")
    assert (whole.cpu, whole.gpu) == (96, 8) and not whole.is_fractional()
    assert specs.resource(h="big_box") == whole
    half = specs.resource(h="my_gpu_host_4")
    assert (half.cpu, half.gpu, half.memMB) == (48, 4, 400_000)
    assert half.is_fractional() and half.get_resource_name() == "my_gpu_host_4"
    assert half.tags[resource_tags.IS_FRACTIONAL] is True
    assert not specs.resource(h="my_gpu_host_8").is_fractional()
    assert {"my_gpu_host_1", "my_gpu_host_2"} <= set(specs.named_resources)
    # a plugin overrides a builtin of the same name (upstream's order)
    assert specs.resource(h="gpu.small") == specs.Resource(cpu=4, gpu=1, memMB=16_000)
    info = registry().info(PluginType.NAMED_RESOURCE)["my_gpu_host"]
    assert info.aliases == ["big_box"] and "my_gpu_host_4" in info.fractionals


def test_errors_are_recorded_not_raised(plugins: Path) -> None:
    errors = registry().load_errors()
    text = "\n".join(map(str, errors))
    assert all(isinstance(e, RegistrationError) for e in errors)
    assert "broken" in text and "this plugin is broken" in text  # import error
    assert "misplaced" in text and "torchx_plugins.tracker" in text  # wrong namespace
    assert "duplicate name" in text and "my_gpu_host" in text  # conflicting duplicate
    assert "never imported" not in text  # _private modules are not scanned
    assert specs.resource(h="my_gpu_host").cpu == 96  # the first registration wins
    printed = str(registry())
    for section in ("scheduler:", "named_resource:", "tracker:", "event_handler:", "errors:"):
        assert section in printed
    assert "local_team: namespace (torchx_plugins.schedulers.my_sched)" in printed


def test_schedulers_trackers_components(plugins: Path) -> None:
    from torchx.schedulers import get_scheduler_factories, get_scheduler_names
    from torchx.specs.finder import get_component, get_components
    from torchx.tracker.api import get_tracker_factory

    assert next(iter(get_scheduler_factories())) == "local_team"  # plugins come first
    assert {"local_team", "local_cwd"} <= set(get_scheduler_names())
    assert get_tracker_factory("mine")("cfg") == ("tracker", "cfg")
    assert "team.hello" in get_components() and "utils.echo" in get_components()
    comp = get_component("team.hello")
    assert comp.fn(who="you").roles[0].args == ["hello", "you"]


@pytest.mark.parametrize("source, expect_plugin", [("0", False), ("1", True), ("2", False),
                                                   ("3", True)])
def test_plugins_source(plugins: Path, monkeypatch: pytest.MonkeyPatch, source: str,
                        expect_plugin: bool) -> None:
    monkeypatch.setenv("TORCHX_PLUGINS_SOURCE", source)
    registry().clear()
    assert ("local_team" in registry().get(PluginType.SCHEDULER)) is expect_plugin


def test_bad_plugins_source(plugins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHX_PLUGINS_SOURCE", "7")
    registry().clear()
    with pytest.raises(ValueError, match="TORCHX_PLUGINS_SOURCE"):
        registry().get(PluginType.SCHEDULER)


def test_lookup_during_discovery_is_an_error(plugins: Path) -> None:
    (plugins / "torchx_plugins" / "named_resources" / "eager.py").write_text(
        "import torchx.specs as specs\nX = specs.resource(h='gpu.small')\n")
    errors = registry().load_errors(PluginType.NAMED_RESOURCE)
    assert any("being discovered" in e.error for e in errors)


def test_cli_runs_a_namespace_scheduler(plugins: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(plugins), "TORCHX_HOME": str(tmp_path / "home"),
           "HOME": str(tmp_path)}
    env.pop("TORCHXCONFIG", None)
    p = subprocess.run([sys.executable, "-m", "torchx", "run", "-s", "local_team", "team.hello",
                        "--who", "plugin"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("local_team://") and "hello plugin" in p.stderr


def test_fraction_helpers() -> None:
    assert powers_of_two_gpus(8) == {1.0: "8", 0.5: "4", 0.25: "2", 0.125: "1"}
    assert powers_of_two_gpus(specs.Resource(cpu=1, gpu=2, memMB=1)) == {1.0: "2", 0.5: "1"}
    with pytest.raises(ValueError):
        powers_of_two_gpus(6)
    assert halve_mem_down_to(minGiB=16)(specs.Resource(cpu=1, gpu=0, memMB=64 * 1024)) == {
        1.0: "64", 0.5: "32", 0.25: "16"}
    assert (WHOLE, HALF) == (1.0, 0.5)


def test_register_marks_and_refuses_duplicates() -> None:
    @register.scheduler()
    def create_thing(session_name: str) -> None: ...

    assert create_thing._plugin_type is PluginType.SCHEDULER  # type: ignore[attr-defined]
    assert create_thing._plugin_name == "create_thing"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="registered twice"):
        @register.named_resource(name="x", aliases=["x"])
        def x() -> specs.Resource:
            return specs.Resource(cpu=1, gpu=0, memMB=1)


def test_resource_tags_match_the_specs_constants() -> None:
    from torchx.specs.capabilities import IS_FRACTIONAL_TAG, RESOURCE_NAME_TAG

    assert (resource_tags.RESOURCE_NAME, resource_tags.IS_FRACTIONAL) == (
        RESOURCE_NAME_TAG, IS_FRACTIONAL_TAG)
