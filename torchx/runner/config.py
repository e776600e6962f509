""".torchxconfig for the Runner and CLI: apply a file's run options to a cfg, load a section,
and dump a template. The format and precedence are described in :py:mod:`torchx.specs.torchxconfig`.
"""

from __future__ import annotations

from typing import TextIO

from torchx.specs.options import CfgVal, runopts
from torchx.specs.torchxconfig import (
    _FIXED_SECTIONS,
    _NAMED_PREFIXES,
    _NON_SCHEDULER_PREFIXES,
    CONFIG_FILE,
    ENV_TORCHXCONFIG,
    ConfigError,
    _apply_parsed,
    _parse,
    _render,
    _sections,
    find_configs,
    get_config,
    get_configs,
    is_scheduler_section,
    load_sections,
    log,
    warn_unknown_sections,
)

__all__ = [
    "CONFIG_FILE", "ENV_TORCHXCONFIG", "ConfigError", "apply", "dump", "find_configs",
    "get_config", "get_configs", "is_scheduler_section", "load", "load_sections",
    "warn_unknown_sections",
    # re-exported internals
    "_FIXED_SECTIONS", "_NAMED_PREFIXES", "_NON_SCHEDULER_PREFIXES", "_apply_parsed", "_parse",
    "_render", "_sections", "log",
]


def _scheduler_opts(scheduler: str) -> runopts:
    from torchx.schedulers import get_scheduler_factory

    return get_scheduler_factory(scheduler)("torchx").run_opts()


def apply(
    scheduler: str,
    cfg: dict[str, CfgVal],
    dirs: list[str] | None = None,
    opts: runopts | None = None,
) -> None:
    """Fill keys missing from ``cfg`` from the ``[<scheduler>]`` section of the config files.

    Values are converted to the types ``opts`` declares (the scheduler's run options, looked up
    only when a file has such a section). Unknown keys are logged with the valid names and
    skipped; a value of the wrong type raises :py:class:`ConfigError` naming the file.
    """
    _apply_parsed(scheduler, cfg, _sections(dirs),
                  opts if opts is not None else lambda: _scheduler_opts(scheduler))


def load(scheduler: str, f: TextIO, cfg: dict[str, CfgVal], opts: runopts | None = None) -> None:
    """Like :py:func:`apply` but reading one already-open file."""
    path = getattr(f, "name", "<config>")
    _apply_parsed(scheduler, cfg, [(str(path), _parse(str(path), f))],
                  opts if opts is not None else lambda: _scheduler_opts(scheduler))


def dump(
    f: TextIO,
    schedulers: list[str] | None = None,
    required_only: bool = False,
) -> None:
    """Write a starter .torchxconfig: a section per scheduler listing its run options.

    Options with a default are written commented out, with their help; required ones are
    written with an empty value to fill in.
    """
    from torchx.schedulers import get_default_scheduler_name, get_scheduler_names

    names = schedulers if schedulers is not None else get_scheduler_names()
    f.write("# torchx configuration: command line > $TORCHXCONFIG > ./.torchxconfig"
            " > ~/.torchxconfig\n\n")
    f.write(f"[cli:run]\nscheduler = {get_default_scheduler_name()}\n\n")
    for name in names:
        try:
            opts = _scheduler_opts(name)
        except Exception as e:  # an unavailable backend must not spoil the rest
            log.warning("skipping scheduler `%s` in the config: %s", name, e)
            continue
        f.write(f"[{name}]\n")
        for key, opt in sorted(opts, key=lambda kv: kv[0]):
            if required_only and not opt.is_required:
                continue
            help_line = " ".join(opt.help.split())
            if help_line:
                f.write(f"# {help_line} ({opt.type_name})\n")
            if opt.is_required:
                f.write(f"{key} =\n")
            else:
                default = "" if opt.default is None else _render(opt.default)
                f.write(f"# {key} = {default}\n")
        f.write("\n")
