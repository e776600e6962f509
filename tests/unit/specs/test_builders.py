"""Component arguments: types, Optional, list/dict, *args pass-through, aliases, defaults, errors."""

from __future__ import annotations

from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import torchx.specs as specs
from torchx.specs.builders import ComponentArgsError, get_component_parser, materialize_appdef
from torchx.specs.finder import ComponentValidationException


def _app(**kw: Any) -> specs.AppDef:
    """An AppDef recording its arguments in its metadata (as repr strings)."""
    return specs.AppDef(name="t", metadata={k: repr(v) for k, v in kw.items()})


def typed(
    s: str,
    i: int = 1,
    f: float = 0.5,
    flag: bool = False,
    opt: Optional[int] = None,  # noqa: UP045 (the typing spelling is supported too)
    opt2: str | None = None,
    items: list[str] | None = None,
    nums: list[int] | None = None,
    kv: dict[str, str] | None = None,
) -> specs.AppDef:
    """A component with one parameter of each supported type.

    Args:
        s: a string
        i: an int
        f: a float
        flag: a switch
        opt: an optional int
        opt2: an optional string
        items: a list
        nums: a list of ints
        kv: a mapping
    """
    return _app(s=s, i=i, f=f, flag=flag, opt=opt, opt2=opt2, items=items, nums=nums, kv=kv)


def passthrough(*args: str, script: str, n: int = 1, debug: bool = False) -> specs.AppDef:
    """Runs a script.

    Args:
        args: script arguments
        script: the script
        n: a count
        debug: a switch
    """
    return _app(args=list(args), script=script, n=n, debug=debug)


def positional_first(name: str, nnodes: int, *args: str) -> specs.AppDef:
    return _app(name=name, nnodes=nnodes, args=list(args))


def _meta(fn: Any, args: Any, defaults: dict[str, str] | None = None) -> dict[str, Any]:
    return {k: eval(v) for k, v in materialize_appdef(fn, args, defaults).metadata.items()}


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--s", "x"], {"s": "x", "i": 1, "f": 0.5, "flag": False, "opt": None, "items": None}),
        (["--s", "x", "--i", "-3", "--f", "2"], {"i": -3, "f": 2.0}),
        (["--s=x", "--i=7"], {"s": "x", "i": 7}),
        (["-s", "x"], {"s": "x"}),
        (["-s=x"], {"s": "x"}),
        (["-sx"], {"s": "x"}),
        (["--s", "-not-an-option"], {"s": "-not-an-option"}),
        (["--s", "x", "--flag"], {"flag": True}),
        (["--flag", "--s", "x"], {"flag": True}),
        (["--s", "x", "--flag", "false"], {"flag": False}),
        (["--s", "x", "--flag", "True"], {"flag": True}),
        (["--s", "x", "--flag=0"], {"flag": False}),
        (["--s", "x", "--opt", "5"], {"opt": 5}),
        (["--s", "x", "--opt2", "y"], {"opt2": "y"}),
        (["--s", "x", "--items", "a,b,c"], {"items": ["a", "b", "c"]}),
        (["--s", "x", "--items", "a", "--items", "b"], {"items": ["a", "b"]}),
        (["--s", "x", "--items", ""], {"items": []}),
        (["--s", "x", "--nums", "1,2"], {"nums": [1, 2]}),
        (["--s", "x", "--kv", "A=1,B=x=y"], {"kv": {"A": "1", "B": "x=y"}}),
        (["--s", "x", "--kv", "PATH=/a,/b"], {"kv": {"PATH": "/a,/b"}}),
        (["--s", "x", "--kv", "A=1", "--kv", "B=2"], {"kv": {"A": "1", "B": "2"}}),
        (["--s", ""], {"s": ""}),
        (["--", "--s", "x", "--i", "2"], {"s": "x", "i": 2}),
    ],
)
def test_typed_arguments(argv: list[str], expected: dict[str, Any]) -> None:
    got = _meta(typed, argv)
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize(
    "argv, args, rest",
    [
        (["--script", "train.py", "--epochs", "3"], ["--epochs", "3"], {"n": 1}),
        (["--script", "train.py", "--n", "2", "--epochs", "3", "--n", "9"], ["--epochs", "3", "--n", "9"], {"n": 2}),
        (["--script", "train.py", "--", "--n", "5"], ["--n", "5"], {"n": 1}),
        (["--script", "train.py", "data.csv", "--n", "5"], ["data.csv", "--n", "5"], {"n": 1}),
        (["--script", "train.py", "--debug", "--lr", "0.1"], ["--lr", "0.1"], {"debug": True}),
        (["--script", "train.py", "--", "--"], ["--"], {}),
        (["--script", "t.py", "a b", "$HOME", "'q'"], ["a b", "$HOME", "'q'"], {}),
        (["--script", "t.py"], [], {}),
    ],
)
def test_varargs_pass_through(argv: list[str], args: list[str], rest: dict[str, Any]) -> None:
    got = _meta(passthrough, argv)
    assert got["args"] == args and got["script"] == argv[1]
    assert {k: got[k] for k in rest} == rest


@pytest.mark.parametrize(
    "argv, args, rest",
    [
        (["--script", "t.py", "-nfoo"], ["-nfoo"], {"n": 1}),  # a program word, not `-n foo`
        (["-n3", "--script", "t.py", "-n4x"], ["-n4x"], {"n": 3}),  # (before it: `-n 3`)
        (["--script", "t.py", "-n", "2", "--lr"], ["--lr"], {"n": 2}),  # whole words: ours
        (["--script", "t.py", "--d", "--deb", "--n"], ["--d", "--deb", "--n"], {"debug": False}),
    ],
)
def test_after_the_program_only_whole_option_words_are_the_components(
        argv: list[str], args: list[str], rest: dict[str, Any]) -> None:
    """Issue 9 (5): nothing after --script is read as an abbreviation or a cluster of the
    component's options; whole option words still are (upstream's docs pass `-j 2x2` there)."""
    got = _meta(passthrough, argv)
    assert got["args"] == args
    assert {k: got[k] for k in rest} == rest


def test_positional_parameters_before_varargs() -> None:
    got = _meta(positional_first, ["--name", "x", "--nnodes", "2", "echo", "--hi"])
    assert got == {"name": "x", "nnodes": 2, "args": ["echo", "--hi"]}
    assert _meta(positional_first, {"name": "y", "nnodes": "3", "*": ["a"]}) == {
        "name": "y", "nnodes": 3, "args": ["a"]
    }


@pytest.mark.parametrize(
    "args, expected",
    [
        ({"s": "x", "i": 4, "flag": True}, {"s": "x", "i": 4, "flag": True}),
        ({"s": "x", "i": "4", "flag": "yes", "kv": "A=1"}, {"i": 4, "flag": True, "kv": {"A": "1"}}),
        ({"s": "x", "items": ["a", "b"]}, {"items": ["a", "b"]}),
    ],
)
def test_dict_arguments(args: dict[str, Any], expected: dict[str, Any]) -> None:
    got = _meta(typed, args)
    assert {k: got[k] for k in expected} == expected


def test_dict_varargs_under_its_name() -> None:
    assert _meta(passthrough, {"script": "a.py", "args": ["--x"]})["args"] == ["--x"]


@pytest.mark.parametrize(
    "defaults, argv, expected",
    [
        ({"i": "9"}, ["--s", "x"], {"i": 9}),
        ({"i": "9"}, ["--s", "x", "--i", "2"], {"i": 2}),
        ({"s": "from-config"}, [], {"s": "from-config"}),
        ({"flag": "true", "kv": "A=1"}, ["--s", "x"], {"flag": True, "kv": {"A": "1"}}),
    ],
)
def test_config_defaults(defaults: dict[str, str], argv: list[str], expected: dict[str, Any]) -> None:
    got = _meta(typed, argv, defaults)
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize(
    "fn, argv, message",
    [
        (typed, [], r"missing required argument\(s\) `--s`: pass `--s VALUE`"),
        (passthrough, ["a.py"], r"missing required argument\(s\) `--script`"),
        (typed, ["--s", "x", "--i", "two"], r"argument -i/--i: must be int, got `two`$"),
        (typed, ["--s", "x", "--flag", "--i", "x"], r"must be int"),
        (typed, ["--s", "x", "--nums", "1,b"], r"must be list\[int\] \| None"),
        (typed, ["--s", "x", "--kv", "novalue"], r"not KEY=VALUE"),
        (typed, ["--s", "x", "--iii", "2"], r"unknown option `--iii`. Did you mean `--i`"),
        (typed, ["--s", "x", "extra"], r"unexpected argument `extra`"),
        (typed, ["--s"], r"option `--s` needs a value"),
        (typed, ["--s", "x", "--", "more"], r"unexpected argument `more`"),
    ],
)
def test_argument_errors(fn: Any, argv: list[str], message: str) -> None:
    with pytest.raises(ComponentArgsError, match=message) as e:
        materialize_appdef(fn, argv)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "args, defaults, message",
    [
        ({"s": "x", "nope": 1}, None, r"unknown argument `nope`"),
        ({"s": "x", "i": "x"}, None, r"option `--i` must be int, got `x`$"),
    ],
)
def test_dict_argument_errors(args: dict[str, Any], defaults: dict[str, str] | None, message: str) -> None:
    with pytest.raises(ComponentArgsError, match=message):
        materialize_appdef(typed, args, defaults)


def test_unknown_configured_default_warns_naming_the_option_and_is_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = materialize_appdef(typed, {"s": "x"}, {"ii": "1", "i": "7"})
    assert app.metadata["s"] == "'x'" and app.metadata["i"] == "7"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "configured default `ii`" in warnings[0] and "Did you mean `i`" in warnings[0]


def test_help_lists_options_with_docs_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    parser = get_component_parser(typed, defaults={"i": "4"}, prog="torchx run typed")
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: torchx run typed")
    assert "A component with one parameter of each supported type." in out
    assert "-s S, --s S" in out and "a string (required)" in out
    assert "(default: 4, from config)" in out and "(default: 0.5)" in out
    assert "--kv KEY=VALUE[,...]" in out and "--flag [BOOL]" in out


def test_materialize_prog_heads_help_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        materialize_appdef(typed, ["--help"], prog="torchx run my.typed")
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith("usage: torchx run my.typed ")
    with pytest.raises(ComponentArgsError, match=r"^torchx run my\.typed: missing required argument\(s\) `--s`"):
        materialize_appdef(typed, [], prog="torchx run my.typed")
    with pytest.raises(ComponentArgsError, match=r"^typed: missing required"):  # default: the fn name
        materialize_appdef(typed, [])


def test_one_letter_h_parameter_keeps_long_help(capsys: pytest.CaptureFixture[str]) -> None:
    def comp(h: str = "gpu.small") -> specs.AppDef:
        return _app(h=h)

    assert _meta(comp, ["-h", "cpu.small"]) == {"h": "cpu.small"}
    with pytest.raises(SystemExit):
        get_component_parser(comp).parse_args(["--help"])
    assert "-h H, --h H" in capsys.readouterr().out


def test_component_value_errors_become_argument_errors() -> None:
    def picky(n: int) -> specs.AppDef:
        if n < 0:
            raise ValueError("n must not be negative")
        return _app(n=n)

    with pytest.raises(ComponentArgsError, match="picky: n must not be negative"):
        materialize_appdef(picky, ["--n", "-1"])


def test_component_must_return_appdef() -> None:
    def not_app(n: int) -> specs.AppDef:
        return "nope"  # type: ignore[return-value]

    with pytest.raises(ComponentValidationException, match="returned str, not an AppDef"):
        materialize_appdef(not_app, ["--n", "1"])


def test_mistyped_option_passed_through_gets_a_hint() -> None:
    def needs_script(*args: str, script: str | None = None) -> specs.AppDef:
        if script is None:
            raise ComponentArgsError("needs --script")
        return _app(script=script, args=list(args))

    with pytest.raises(ComponentArgsError, match=r"needs --script \(`--scrpt` and what follows were"
                       r" passed through to the program; did you mean `--script`\?\)"):
        materialize_appdef(needs_script, ["--scrpt", "a.py"])
    with pytest.raises(ComponentArgsError, match=r"missing required argument\(s\) `--script`.*did you mean `--script`"):
        materialize_appdef(passthrough, ["--scrpt", "a.py"])
    # a far-away word is the program's business: no hint
    with pytest.raises(ComponentArgsError) as e:
        materialize_appdef(needs_script, ["--epochs", "3"])
    assert "did you mean" not in str(e.value)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=15)


@settings(max_examples=200, deadline=None)
@given(value=_TEXT, rest=st.lists(_TEXT, max_size=4))
def test_any_value_and_passthrough_word_arrives_unchanged(value: str, rest: list[str]) -> None:
    got = _meta(passthrough, ["--script", value, "--", *rest])
    assert got["script"] == value and got["args"] == rest
    got = _meta(passthrough, [f"--script={value}", "--", *rest])
    assert got["script"] == value and got["args"] == rest
