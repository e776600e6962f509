""".torchxconfig reading: INI defaults for run options, the CLI, components and trackers.

Sections::

    [local_cwd]              # run options of a scheduler (typed by its runopts)
    log_dir = /tmp/logs
    [cli:run]                # defaults for `torchx run`: scheduler, component, workspace
    scheduler = local_cwd
    [component:dist.ddp]     # argument defaults of a component
    j = 2x2
    [torchx:tracker]         # trackers to activate (keys; values unused)
    fsspec =
    [tracker:fsspec]         # a tracker's settings
    config = /tmp/tracker_data

Precedence: command line > ``$TORCHXCONFIG`` (when set, the only file read) > ``./.torchxconfig``
> ``~/.torchxconfig`` > defaults. Files are read on each call (they are tiny); nothing happens
at import time.

This module only reads; it sits in ``specs`` so the CLI, the Runner and the trackers import it
without an import running back up the layers. :py:mod:`torchx.runner.config` adds what needs the
scheduler registry (looking up a scheduler's run options, ``dump``) and re-exports this module.
"""

from __future__ import annotations

import configparser
import logging
import os
from collections.abc import Callable, Iterable
from typing import TextIO

from torchx.specs.errors import InvalidRunConfigException
from torchx.specs.options import CfgVal, cfg_from_str, runopts
from torchx.specs.options import convert_value as _convert
from torchx.util.suggest import suggest as _suggest

log = logging.getLogger("torchx.runner.config")  # the name logging configs know it by

CONFIG_FILE = ".torchxconfig"
ENV_TORCHXCONFIG = "TORCHXCONFIG"
_NON_SCHEDULER_PREFIXES = ("cli:", "component:", "torchx:", "tracker:")


class ConfigError(InvalidRunConfigException):
    """A .torchxconfig file cannot be read or holds a value of the wrong type."""


def find_configs(dirs: Iterable[str] | None = None) -> list[str]:
    """Config files to read, most important first.

    ``$TORCHXCONFIG`` alone when set; otherwise ``<dir>/.torchxconfig`` for each of ``dirs``
    (default: the current directory, then the home directory) that exists.
    """
    env = os.environ.get(ENV_TORCHXCONFIG)
    if env:
        if not os.path.isfile(env):
            raise ConfigError(
                f"${ENV_TORCHXCONFIG} names `{env}`, which is not a file: fix the path or unset it"
            )
        return [env]
    if dirs is None:
        dirs = [os.getcwd(), os.path.expanduser("~")]
    found: list[str] = []
    for d in dirs:
        path = os.path.abspath(os.path.join(d, CONFIG_FILE))
        if os.path.isfile(path) and path not in found:
            found.append(path)
    return found


def _parse(path: str, f: TextIO | None = None) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case
    try:
        if f is not None:
            parser.read_file(f, source=path)
        else:
            with open(path) as fh:
                parser.read_file(fh, source=path)
    except configparser.Error as e:
        first = str(e).splitlines()[0]
        raise ConfigError(f"cannot parse `{path}`: {first}: fix the INI syntax") from None
    except OSError as e:
        raise ConfigError(f"cannot read `{path}`: {e.strerror}") from None
    return parser


def _sections(dirs: Iterable[str] | None) -> list[tuple[str, configparser.ConfigParser]]:
    return [(p, _parse(p)) for p in find_configs(dirs)]


def get_configs(prefix: str, name: str, dirs: Iterable[str] | None = None) -> dict[str, str]:
    """Merged ``[<prefix>:<name>]`` key -> value (more important files win).

    An empty ``prefix`` reads ``[<name>]``.
    """
    section = f"{prefix}:{name}" if prefix else name
    merged: dict[str, str] = {}
    for _, parser in _sections(dirs):
        if parser.has_section(section):
            for key, val in parser.items(section):
                merged.setdefault(key, val)
    return merged


def get_config(prefix: str, name: str, key: str, dirs: Iterable[str] | None = None) -> str | None:
    """The value of ``key`` in ``[<prefix>:<name>]``, or None."""
    return get_configs(prefix, name, dirs).get(key)


def load_sections(prefix: str, dirs: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """Every ``[<prefix>:<name>]`` section: name -> key -> value (more important files win)."""
    out: dict[str, dict[str, str]] = {}
    for _, parser in _sections(dirs):
        for section in parser.sections():
            head, sep, name = section.partition(":")
            if sep and head == prefix:
                into = out.setdefault(name, {})
                for key, val in parser.items(section):
                    into.setdefault(key, val)
    return out


def _apply_parsed(
    scheduler: str,
    cfg: dict[str, CfgVal],
    sources: list[tuple[str, configparser.ConfigParser]],
    opts: runopts | Callable[[], runopts],
) -> None:
    """Fill ``cfg`` from the ``[<scheduler>]`` sections of ``sources`` (see ``apply``);
    ``opts`` may be a callable, called only when a file has such a section."""
    table: runopts | None = opts if isinstance(opts, runopts) else None
    for path, parser in sources:
        if not parser.has_section(scheduler):
            continue
        if table is None:
            table = opts() if callable(opts) else opts
        opts_now: runopts = table
        for key, raw in parser.items(scheduler):
            opt = opts_now.get(key)
            if opt is None:
                log.warning(
                    "`%s` [%s]: ignoring unknown run option `%s`%s",
                    path, scheduler, key, _suggest(key, [k for k, _ in opts_now], "options"),
                )
                continue
            canonical = next(k for k, o in opts_now if o is opt)
            if canonical in cfg or key in cfg:
                continue
            value: CfgVal = raw
            if opt.opt_type in (list, dict):
                value = cfg_from_str(f"{canonical}={raw}").get(canonical, [])
            try:
                cfg[canonical] = _convert(canonical, value, opt.opt_type)
            except InvalidRunConfigException as e:
                raise ConfigError(f"`{path}` [{scheduler}]: {e}: fix the value in the file") from None


def _render(val: CfgVal) -> str:
    if isinstance(val, bool):
        return "true" if val else "false"
    if isinstance(val, list):
        return ",".join(val)
    if isinstance(val, dict):
        return ";".join(f"{k}:{v}" for k, v in val.items())
    return str(val)


_FIXED_SECTIONS = ("cli:run", "torchx:tracker")
_NAMED_PREFIXES = ("component", "tracker")


def warn_unknown_sections(schedulers: Iterable[str], dirs: Iterable[str] | None = None) -> None:
    """Log each section no reader uses (a misspelt scheduler, ``[cli:runn]``), naming the valid ones."""
    known = sorted(schedulers)
    for path, parser in _sections(dirs):
        for section in parser.sections():
            head, sep, name = section.partition(":")
            if section in _FIXED_SECTIONS or section in known or (
                sep and name and head in _NAMED_PREFIXES
            ):
                continue
            valid = [*known, *_FIXED_SECTIONS, *(f"{p}:<name>" for p in _NAMED_PREFIXES)]
            log.warning("`%s`: ignoring unknown section [%s]%s",
                        path, section, _suggest(section, valid, "sections"))


def is_scheduler_section(section: str) -> bool:
    return not section.startswith(_NON_SCHEDULER_PREFIXES)
