"""Component function -> argparse parser -> AppDef.

Each parameter becomes ``--name`` (a one-letter name also ``-n``); ``*args`` collects the
remaining tokens: after the component's own options, the first token the component does not
know (``--epochs``, ``train.py``...) and everything after it pass through unchanged, so
``--script train.py --epochs 3`` needs no ``--`` (a literal ``--`` also ends the options;
for a component without ``*args`` it is only a separator).
"""

from __future__ import annotations

import argparse
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from torchx.specs.appdef import AppDef
from torchx.specs.errors import TorchXError
from torchx.specs.file_linter import describe_type, parse_docstring, type_hints
from torchx.util.suggest import suggest as _suggest
from torchx.util.types import FALSE_WORDS as _CFG_FALSE
from torchx.util.types import TRUE_WORDS as _CFG_TRUE
from torchx.util.types import unwrap_optional as _unwrap_optional

_TRUE = _CFG_TRUE | {"t"}  # component flags also take argparse-style `t`/`f`
_FALSE = _CFG_FALSE | {"f"}
_EMPTY = inspect.Parameter.empty


class ComponentArgsError(TorchXError, ValueError):
    """A component was given arguments it cannot take (unknown, missing or ill-typed)."""

    exit_code = 2


def _to_bool(val: str) -> bool:
    s = val.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"`{val}` is not a boolean; use true or false")


_to_bool.__name__ = "bool"


def _scalar(t: Any) -> Callable[[str], Any]:
    return _to_bool if t is bool else t


@dataclass
class _Param:
    """One component parameter as the command line sees it."""

    name: str
    hint: Any
    default: Any
    help: str
    positional: bool  # positional-or-keyword (must be passed positionally when *args is used)

    @property
    def required(self) -> bool:
        return self.default is _EMPTY

    @property
    def base(self) -> Any:
        return _unwrap_optional(self.hint)[0]

    @property
    def is_bool(self) -> bool:
        return self.base is bool

    @property
    def flags(self) -> list[str]:
        return ([f"-{self.name}"] if len(self.name) == 1 else []) + [f"--{self.name}"]

    def convert(self, raw: str) -> Any:
        """A command-line string converted to this parameter's type (ValueError if it is not)."""
        base = self.base
        origin, args = typing.get_origin(base), typing.get_args(base)
        if origin is list:
            item = _scalar(args[0] if args else str)
            return [item(v.strip()) for v in raw.split(",") if v.strip()] if raw else []
        if origin is dict:
            key_t, val_t = (_scalar(a) for a in (args or (str, str)))
            pairs: list[list[str]] = []
            for piece in raw.split(","):
                k, sep, v = piece.partition("=")
                if sep:
                    pairs.append([k.strip(), v])
                elif pairs:  # a comma inside a value: A=1,2 -> {"A": "1,2"}
                    pairs[-1][1] += "," + piece
                elif piece.strip():
                    raise ValueError(f"`{piece}` is not KEY=VALUE (write `k1=v1,k2=v2`)")
            return {key_t(k): val_t(v) for k, v in pairs}
        return _scalar(base)(raw)


class _MergeAction(argparse.Action):
    """Repeated list/dict options accumulate (``--env A=1 --env B=2``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        prev = getattr(namespace, self.dest, None)
        if isinstance(prev, list) and isinstance(values, list):
            values = prev + values
        elif isinstance(prev, dict) and isinstance(values, dict):
            values = {**prev, **values}
        setattr(namespace, self.dest, values)


def _metavar(p: _Param) -> str:
    origin = typing.get_origin(p.base)
    if p.is_bool:
        return "BOOL"
    if origin is dict:
        return "KEY=VALUE[,...]"
    if origin is list:
        return f"{p.name.upper()}[,...]"
    return p.name.upper()


def _type_error(p: _Param, raw: str, e: ValueError) -> str:
    """``must be int, got `two``` (our own converters' reasons are kept, Python's dropped)."""
    reason = "" if p.base in (int, float) else f" ({e})"
    return f"must be {describe_type(p.hint)}, got `{raw}`{reason}"


def _argparse_type(p: _Param) -> Callable[[str], Any]:
    def convert(raw: str) -> Any:
        try:
            return p.convert(raw)
        except ValueError as e:
            raise argparse.ArgumentTypeError(_type_error(p, raw, e)) from None

    return convert


def _params(fn: Callable[..., Any]) -> tuple[list[_Param], str | None]:
    """The parameters of ``fn`` (except ``*args``) and the name of its ``*args`` (or None)."""
    sig = inspect.signature(fn)
    hints = type_hints(fn)
    docs = parse_docstring(fn.__doc__).args
    params: list[_Param] = []
    varargs: str | None = None
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            varargs = p.name
        elif p.kind is not p.VAR_KEYWORD:
            params.append(_Param(p.name, hints.get(p.name, str), p.default, docs.get(p.name, ""),
                                 p.kind is p.POSITIONAL_OR_KEYWORD))
    return params, varargs


class ComponentParser(argparse.ArgumentParser):
    """The argparse parser of a component; errors raise :py:class:`ComponentArgsError`."""

    def __init__(self, fn: Callable[..., Any], defaults: Mapping[str, str] | None = None,
                 prog: str | None = None) -> None:
        doc = parse_docstring(fn.__doc__)
        super().__init__(
            prog=prog or getattr(fn, "__name__", "component"),
            description=doc.description or None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            add_help=False,
            allow_abbrev=False,
        )
        self.fn = fn
        self.params, self.varargs = _params(fn)
        self.defaults: dict[str, Any] = _convert_defaults(self.params, defaults or {}, self.prog)
        by_flag = {flag: p for p in self.params for flag in p.flags}
        self._by_flag = by_flag
        self._help_flags = [f for f in ("-h", "--help") if f not in by_flag]
        if self._help_flags:
            self.add_argument(*self._help_flags, action="help", help="show this help and exit")
        for p in self.params:
            extra: dict[str, Any] = {"nargs": "?", "const": True} if p.is_bool else {}
            self.add_argument(*p.flags, dest=p.name, type=_argparse_type(p), action=_MergeAction,
                              metavar=_metavar(p), default=argparse.SUPPRESS,
                              help=self._help_text(p), **extra)
        if self.varargs:
            vhelp = parse_docstring(fn.__doc__).args.get(self.varargs, "")
            self.add_argument(self.varargs, nargs="*", default=[], metavar=self.varargs,
                              help=(vhelp + " " if vhelp else "")
                              + "(the remaining arguments, passed through as they are)")

    def _help_text(self, p: _Param) -> str:
        if p.name in self.defaults:
            suffix = f"(default: {self.defaults[p.name]!r}, from config)"
        elif p.required:
            suffix = "(required)"
        else:
            suffix = f"(default: {p.default!r})"
        return f"{p.help} {suffix}".strip().replace("%", "%%")

    def error(self, message: str) -> NoReturn:
        raise ComponentArgsError(f"{self.prog}: {message}")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        import sys

        known, rest = self._split(list(sys.argv[1:] if args is None else args))
        ns, extras = super().parse_known_args(known, namespace)
        if self.varargs:
            setattr(ns, self.varargs, rest)
        return ns, extras

    def _split(self, tokens: list[str]) -> tuple[list[str], list[str]]:
        """(the component's own options as ``--name=value``, the pass-through rest)."""
        known: list[str] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok == "--":
                if self.varargs:
                    return known, tokens[i + 1:]
                i += 1  # nothing to pass through: `--` only separates, options may follow
                continue
            if tok in self._help_flags:
                known.append(tok)
                i += 1
                continue
            p, value = self._match(tok)
            if p is None:
                if self.varargs:
                    return known, tokens[i:]
                self._unknown(tok)
            if value is None:
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                if p.is_bool:
                    if nxt is not None and nxt.strip().lower() in _TRUE | _FALSE:
                        value, i = nxt, i + 1
                    else:
                        value = "true"
                elif nxt is None:
                    self.error(f"option `{tok}` needs a value ({describe_type(p.hint)})")
                else:
                    value, i = nxt, i + 1
            known.append(f"--{p.name}={value}")
            i += 1
        return known, []

    def _match(self, tok: str) -> tuple[_Param | None, str | None]:
        if not tok.startswith("-") or tok == "-":
            return None, None
        flag, sep, value = tok.partition("=")
        if flag in self._by_flag:
            return self._by_flag[flag], value if sep else None
        if not tok.startswith("--") and tok[:2] in self._by_flag:  # -j2x2
            return self._by_flag[tok[:2]], tok[2:]
        return None, None

    def _unknown(self, tok: str) -> NoReturn:
        flags = [f for p in self.params for f in p.flags]
        if tok.startswith("-"):
            self.error(f"unknown option `{tok}`" + _suggest(tok.partition("=")[0], flags, "options"))
        self.error(f"unexpected argument `{tok}`: this component takes only options ({', '.join(flags)})")

    def passthrough_hint(self, ns: argparse.Namespace) -> str:
        """A hint when the first passed-through word looks like a mistyped option of ours."""
        rest = getattr(ns, self.varargs, []) if self.varargs else []
        if not rest or not rest[0].startswith("-"):
            return ""
        import difflib

        word = rest[0].partition("=")[0]
        flags = [f for p in self.params for f in p.flags]
        close = difflib.get_close_matches(word, flags, n=1, cutoff=0.75)
        if not close:
            return ""
        return f"`{word}` and what follows were passed through to the program; did you mean `{close[0]}`?"

    def to_call(self, ns: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
        """(positional args, keyword args) to call the component with."""
        given = {p.name: getattr(ns, p.name) for p in self.params if hasattr(ns, p.name)}
        varargs = list(getattr(ns, self.varargs, [])) if self.varargs else []
        return _call_args(self.params, self.defaults, given, varargs, self.prog)


def _convert_defaults(params: list[_Param], defaults: Mapping[str, str], prog: str) -> dict[str, Any]:
    by_name = {p.name: p for p in params}
    out: dict[str, Any] = {}
    for key, raw in defaults.items():
        if key not in by_name:
            # like unknown keys elsewhere in .torchxconfig: warn, name the valid ones, go on
            import logging

            logging.getLogger(__name__).warning(
                "%s: ignoring configured default `%s` ([component:...] in .torchxconfig): not an"
                " option of this component%s", prog, key, _suggest(key, list(by_name), "options"),
            )
            continue
        out[key] = _convert_value(by_name[key], raw, prog)
    return out


def _convert_value(p: _Param, raw: Any, prog: str) -> Any:
    if not isinstance(raw, str) or p.base is str:
        return raw
    try:
        return p.convert(raw)
    except ValueError as e:
        raise ComponentArgsError(f"{prog}: option `--{p.name}` {_type_error(p, raw, e)}") from None


def _call_args(params: list[_Param], defaults: Mapping[str, Any], given: Mapping[str, Any],
               varargs: list[str], prog: str) -> tuple[list[Any], dict[str, Any]]:
    values: dict[str, Any] = {}
    missing: list[str] = []
    for p in params:
        if p.name in given:
            values[p.name] = given[p.name]
        elif p.name in defaults:
            values[p.name] = defaults[p.name]
        elif not p.required:
            values[p.name] = p.default
        else:
            missing.append(p.name)
    if missing:
        flags = ", ".join(f"`--{m}`" for m in missing)
        example = " ".join(f"--{m} VALUE" for m in missing)
        raise ComponentArgsError(f"{prog}: missing required argument(s) {flags}: pass `{example}`")
    if varargs:
        positional = [values.pop(p.name) for p in params if p.positional]
        return positional + list(varargs), values
    return [], values


def get_component_parser(fn: Callable[..., Any], defaults: Mapping[str, str] | None = None,
                         prog: str | None = None) -> ComponentParser:
    """The argparse parser for component ``fn`` (``--help`` prints the component's docs).

    ``defaults`` (option name -> string, e.g. from ``.torchxconfig``) override the function's
    own defaults and make a required option optional.
    """
    return ComponentParser(fn, defaults, prog)


def materialize_appdef(fn: Callable[..., Any], args: Sequence[str] | Mapping[str, Any],
                       defaults: Mapping[str, str] | None = None, prog: str | None = None) -> AppDef:
    """Call component ``fn`` with command-line tokens or a dict of arguments; return its AppDef.

    In a dict, values may be typed or strings (converted to the parameter's type); ``*args``
    is given under its own name or ``"*"``. ``prog`` (e.g. ``torchx run utils.echo``) heads
    the ``--help`` usage line and error messages; the function's name by default.
    """
    parser = get_component_parser(fn, defaults, prog)
    ns: argparse.Namespace | None = None
    try:
        if isinstance(args, Mapping):
            pos, kwargs = _dict_call(parser, args)
        else:
            ns = parser.parse_args(list(args))
            pos, kwargs = parser.to_call(ns)
        try:
            app = fn(*pos, **kwargs)
        except ValueError as e:
            if isinstance(e, TorchXError):
                raise
            raise ComponentArgsError(f"{parser.prog}: {e}") from e
    except ComponentArgsError as e:
        hint = parser.passthrough_hint(ns) if ns is not None else ""
        if hint:
            raise ComponentArgsError(f"{e} ({hint})") from e
        raise
    if not isinstance(app, AppDef):
        from torchx.specs.finder import ComponentValidationException

        raise ComponentValidationException(
            f"component `{parser.prog}` returned {type(app).__name__}, not an AppDef"
        )
    return app


def _dict_call(parser: ComponentParser, args: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    by_name = {p.name: p for p in parser.params}
    given: dict[str, Any] = {}
    varargs: list[str] = []
    for key, val in args.items():
        if parser.varargs and key in (parser.varargs, "*"):
            varargs = [val] if isinstance(val, str) else [str(v) for v in val]
        elif key in by_name:
            given[key] = _convert_value(by_name[key], val, parser.prog)
        else:
            raise ComponentArgsError(
                f"{parser.prog}: unknown argument `{key}`" + _suggest(key, list(by_name), "options")
            )
    return _call_args(parser.params, parser.defaults, given, varargs, parser.prog)
