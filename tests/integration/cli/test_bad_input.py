"""Bad input through the real CLI: non-zero exit, exactly one stderr line naming the fix,
no traceback, nothing on stdout."""

from __future__ import annotations

import pytest

from tests.integration.cli.conftest import Cli

BAD = [
    # (argv, .torchxconfig text or None, exit code, fragment of the one line)
    (["rnu"], None, 2, "unknown command `rnu`. Did you mean `run`?"),
    (["run", "-s", "local_cwdd", "utils.echo"], None, 2, "Did you mean `local_cwd`"),
    (["run", "utils.ecoh"], None, 2, "utils.echo"),
    (["run", "utils.echo", "--mgs", "x"], None, 2, "--msg"),
    (["run", "-cfg", "nosuch=1", "utils.echo"], None, 2, "unknown run option `nosuch`"),
    (["run", "-cfg", "prepend_cwd=maybe", "utils.echo"], None, 2, "prepend_cwd"),
    (["run", "-cfg", "oops", "utils.echo"], None, 2, "k1=v1,k2=v2"),
    (["run", "utils.echo"], "[local_cwd]\nprepend_cwd = maybe\n", 2, ".torchxconfig"),
    (["run", "utils.echo"], "this is not ini\n", 2, "cannot parse"),
    (["run"], None, 2, "name a component"),
    (["status", "not-a-handle"], None, 2, "malformed app handle `not-a-handle`"),
    (["log", "local_cwd://torchx/x/a/b/c"], None, 2, "malformed app handle"),
    (["status", "local_cwd://torchx/nosuch-123"], None, 1, "unknown app"),
    (["describe", "local_cwd://torchx/nosuch-123"], None, 1, "unknown app"),
    (["log", "local_cwd://torchx/nosuch-123"], None, 1, "unknown app"),
    (["runopts", "nosuch"], None, 2, "unknown scheduler `nosuch`"),
    (["list", "-s", "nosuch"], None, 2, "unknown scheduler `nosuch`"),
    (["builtins", "--print", "utils.ech"], None, 2, "utils.echo"),
    (["--log_level", "LOUD", "list"], None, 2, "invalid choice"),
    (["log", "--since", "yesterday", "local_cwd://torchx/x"], None, 2, "is not a time"),
    (["log", "--regex", "(", "local_cwd://torchx/x"], None, 2, "`(` is not a valid regex"),
    (["tracker", "--tracker", "fspec", "list", "jobs"], None, 2, "Did you mean `fsspec`"),
]


@pytest.mark.parametrize(("argv", "config", "code", "fragment"), BAD,
                         ids=[" ".join(b[0]) + (" +config" if b[1] else "") for b in BAD])
def test_bad_input_is_one_line(cli: Cli, argv: list[str], config: str | None, code: int,
                               fragment: str) -> None:
    if config is not None:
        (cli.cwd / ".torchxconfig").write_text(config)
    p = cli(*argv)
    assert p.returncode == code, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("torchx: error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in p.stderr and p.stdout == ""


@pytest.mark.parametrize("cmd", ["cancel", "delete"])
def test_cancel_and_delete_of_an_unknown_app_are_no_ops(cli: Cli, cmd: str) -> None:
    p = cli(cmd, "local_cwd://torchx/nosuch-123")  # as upstream: exit 0, nothing on stdout
    assert p.returncode == 0 and p.stdout == "", p.stderr
    assert f"nothing to {cmd}" in p.stderr and "Traceback" not in p.stderr


def test_log_of_a_missing_role_and_replica(cli: Cli) -> None:
    handle = cli.ok("run", "utils.echo").splitlines()[0]
    for ident, fragment in [(f"{handle}/nope", "has no role `nope`; its roles: echo"),
                            (f"{handle}/echo/5", "has replicas 0..0, not 5"),
                            (f"{handle}/echo/x", "must be numbers")]:
        p = cli("log", ident)
        assert p.returncode == 2 and len(p.stderr.splitlines()) == 1 and fragment in p.stderr
