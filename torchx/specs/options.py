"""Run options: what a scheduler declares it accepts (:py:class:`runopts`) and how the values
users write (``-cfg k=v,k2=a;b``, JSON, .torchxconfig) become typed ones."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from torchx.specs.errors import InvalidRunConfigException
from torchx.util.suggest import suggest
from torchx.util.types import FALSE_WORDS, TRUE_WORDS

__all__ = ["CfgVal", "ResolvedCfg", "cfg_from_str", "convert_value", "runopt", "runopts"]

# --------------------------------------------------------------------------- run options

CfgVal = str | int | float | bool | list[str] | dict[str, str] | None
"""A run option's value."""

_OPT_TYPES: tuple[type, ...] = (str, int, float, bool, list, dict)


class ResolvedCfg(dict[str, CfgVal]):
    """Run options already checked by :py:meth:`runopts.resolve`: every declared key present
    (defaults filled in, aliases canonical, types checked).

    Resolving one again returns it unchanged, so the one mapping a run was resolved to is what
    every scheduler hook sees (validate, workspace build, ``_submit_dryrun``, ``schedule``).
    """


@dataclass
class runopt:
    """One run option a scheduler accepts."""

    default: CfgVal
    opt_type: type
    is_required: bool
    help: str
    aliases: list[str] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        return _type_name(self.opt_type)


def _type_name(t: Any) -> str:
    if t in (list, list[str]):
        return "list[str]"
    if t in (dict, dict[str, str]):
        return "dict[str, str]"
    return getattr(t, "__name__", str(t))


def _base_type(t: Any) -> type:
    """``list[str]`` -> list, ``dict[str, str]`` -> dict, others as they are."""
    origin = getattr(t, "__origin__", None)
    return origin if isinstance(origin, type) else t


class runopts:
    """The run options a scheduler declares: name -> :py:class:`runopt`."""

    def __init__(self) -> None:
        self._opts: dict[str, runopt] = {}

    def add(
        self,
        cfg_key: str,
        type_: Any,
        help: str,
        default: CfgVal = None,
        required: bool = False,
        aliases: list[str] | None = None,
    ) -> None:
        """Declare an option; a required option cannot have a default."""
        base = _base_type(type_)
        if base not in _OPT_TYPES:
            raise TypeError(f"run option `{cfg_key}` has unsupported type {type_}")
        if required and default is not None:
            raise ValueError(f"required run option `{cfg_key}` cannot have a default")
        if default is not None and not _is_type(default, base):
            raise TypeError(f"default of `{cfg_key}` is not a {_type_name(type_)}: {default!r}")
        self._opts[cfg_key] = runopt(default, base, required, help, list(aliases or []))

    def update(self, other: runopts) -> None:
        self._opts.update(other._opts)

    def get(self, name: str) -> runopt | None:
        if name in self._opts:
            return self._opts[name]
        for opt in self._opts.values():
            if name in opt.aliases:
                return opt
        return None

    def _canonical(self, name: str) -> str | None:
        if name in self._opts:
            return name
        for key, opt in self._opts.items():
            if name in opt.aliases:
                return key
        return None

    def __iter__(self) -> Iterator[tuple[str, runopt]]:
        return iter(self._opts.items())

    def __len__(self) -> int:
        return len(self._opts)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def resolve(self, cfg: Mapping[str, CfgVal]) -> ResolvedCfg:
        """``cfg`` checked against the declared options, with defaults filled in.

        Raises InvalidRunConfigException naming the valid options for an unknown key, a
        missing required option or a value of the wrong type. A :py:class:`ResolvedCfg` is
        returned as it is (it was resolved already).
        """
        if isinstance(cfg, ResolvedCfg):
            return cfg
        resolved = ResolvedCfg()
        for key, val in cfg.items():
            name = self._canonical(key)
            if name is None:
                raise self._unknown(key)
            opt = self._opts[name]
            if val is not None and not _is_type(val, opt.opt_type):
                raise InvalidRunConfigException(
                    f"run option `{name}` must be of type {opt.type_name}, got"
                    f" {type(val).__name__} `{val!r}`"
                )
            resolved[name] = val
        for name, opt in self._opts.items():
            if resolved.get(name) is None:
                if opt.is_required:
                    raise InvalidRunConfigException(
                        f"required run option `{name}` is missing: pass `-cfg {name}=...`"
                        f" ({opt.help})"
                    )
                resolved[name] = opt.default
        return resolved

    def cfg_from_str(self, cfg_str: str) -> dict[str, CfgVal]:
        """Parse ``k=v,k2=a;b`` converting each value to its option's declared type."""
        raw = cfg_from_str(cfg_str)
        out: dict[str, CfgVal] = {}
        for key, val in raw.items():
            name = self._canonical(key)
            if name is None:
                raise self._unknown(key)
            out[name] = convert_value(name, val, self._opts[name].opt_type)
        return out

    def _unknown(self, key: str) -> InvalidRunConfigException:
        """The error for an unknown key: the closest names, then every valid one."""
        names = sorted(self._opts)
        hint = suggest(key, names, "options")
        if not hint.startswith(". Known"):  # a suggestion: list the valid options too
            hint += f" Valid options: {', '.join(names)}"
        return InvalidRunConfigException(f"unknown run option `{key}`{hint}")

    def cfg_from_json_repr(self, json_repr: str) -> dict[str, CfgVal]:
        """Options from a JSON object (unknown keys ignored, aliases resolved)."""
        out: dict[str, CfgVal] = {}
        for key, val in json.loads(json_repr).items():
            name = self._canonical(key)
            if name is not None:
                out[name] = convert_value(name, val, self._opts[name].opt_type)
        return out

    def __repr__(self) -> str:
        if not self._opts:
            return "    (no run options)"
        width = max(len(k) for k in self._opts)
        lines = []
        for key, opt in sorted(self._opts.items(), key=lambda kv: (not kv[1].is_required, kv[0])):
            if opt.is_required:
                default = "required"
            elif opt.default is None:
                default = "optional"
            else:
                default = f"default: {opt.default!r}"
            lines.append(f"    {key:<{width}}  {opt.type_name:<14} ({default})")
            if opt.help:
                lines.append(f"    {'':<{width}}    {_indent(opt.help, width + 8)}")
        return "\n".join(lines)


def _is_type(val: Any, t: type) -> bool:
    if t is float:
        return isinstance(val, (int, float)) and not isinstance(val, bool)
    if t is int:
        return isinstance(val, int) and not isinstance(val, bool)
    if t is list:
        return isinstance(val, list) and all(isinstance(v, str) for v in val)
    if t is dict:
        return isinstance(val, dict)
    return isinstance(val, t)


def convert_value(name: str, val: Any, t: type) -> CfgVal:
    """A value parsed from a string converted to the declared type, or a clear error."""
    try:
        if t is bool:
            if isinstance(val, bool):
                return val
            s = str(val).strip().lower()
            if s in TRUE_WORDS:
                return True
            if s in FALSE_WORDS:
                return False
            raise ValueError
        if t is list:
            return [str(v) for v in val] if isinstance(val, list) else [str(val)]
        if t is dict:
            items = val if isinstance(val, list) else [val]
            if isinstance(val, dict):
                return {str(k): str(v) for k, v in val.items()}
            out: dict[str, str] = {}
            for item in items:
                k, sep, v = str(item).partition(":")
                if not sep:
                    raise ValueError
                out[k] = v
            return out
        if isinstance(val, list):
            val = ",".join(val)
        if t is int:
            return int(val)
        if t is float:
            return float(val)
        return str(val)
    except ValueError:
        hint = {
            bool: "true or false",
            int: "a whole number",
            float: "a number",
            dict: "key:value pairs separated by `;`",
        }.get(t, _type_name(t))
        raise InvalidRunConfigException(
            f"run option `{name}` must be {hint}, got `{val}`"
        ) from None


def _split_unquoted(text: str, seps: str) -> list[str]:
    """Split on any of ``seps`` outside single or double quotes; quotes are removed."""
    parts: list[str] = []
    buf: list[str] = []
    quote = ""
    quoted = False
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
            else:
                buf.append(ch)
        elif ch in "\"'":
            quote = ch
            quoted = True
        elif ch in seps:
            parts.append("".join(buf))
            buf, quoted = [], False
        else:
            buf.append(ch)
    if quote:
        raise InvalidRunConfigException(f"unbalanced quote in `{text}`")
    if buf or quoted or parts:
        parts.append("".join(buf))
    return parts


def cfg_from_str(cfg_str: str) -> dict[str, CfgVal]:
    """Parse ``k=v,k2=v2`` into a dict of strings and lists of strings.

    A token without ``=`` continues the previous key's value, so ``k=a,b`` and ``k=a;b`` both
    give ``{"k": ["a", "b"]}``; quotes protect separators: ``k="a,b"`` gives ``"a,b"``.
    Convert to declared types with :py:meth:`runopts.cfg_from_str`.
    """
    out: dict[str, list[str]] = {}
    key: str | None = None
    for token in _tokens(cfg_str):
        k, sep, v = token
        if sep:
            key = k.strip()
            if not key:
                raise InvalidRunConfigException(f"empty option name in `{cfg_str}`")
            out[key] = [v] if v != "" else []
        elif key is None:
            raise InvalidRunConfigException(
                f"`{k}` in `{cfg_str}` is not `key=value`: write run options as `k1=v1,k2=v2`"
            )
        else:
            out[key].append(k)
    return {k: (v[0] if len(v) == 1 else v) for k, v in out.items()}


def _tokens(cfg_str: str) -> Iterator[tuple[str, str, str]]:
    """(key, '=', value) for ``k=v`` pieces and (value, '', '') for continuations."""
    # split outside quotes on , and ; but decide key=value before stripping quotes
    buf: list[str] = []
    quote = ""
    pieces: list[str] = []
    for ch in cfg_str:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            buf.append(ch)
        elif ch in ",;":
            pieces.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if quote:
        raise InvalidRunConfigException(f"unbalanced quote in `{cfg_str}`")
    pieces.append("".join(buf))
    for piece in pieces:
        if not piece.strip():
            continue
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*=(.*)$", piece, re.S)
        if m:
            yield m.group(1), "=", _unquote(m.group(2).strip())
        else:
            yield _unquote(piece.strip()), "", ""


def _unquote(s: str) -> str:
    parts = _split_unquoted(s, "")
    return parts[0] if parts else ""



def _indent(text: str, n: int) -> str:
    return text.replace("\n", "\n" + " " * n)
