"""torchx.util.logfile: whole lines by byte range and time index, and following a growing file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from torchx.util.logfile import iter_lines, last_stamp, offsets_for, read_index


def test_whole_lines_only_split_on_newline(tmp_path: Path) -> None:
    p = tmp_path / "x.log"
    p.write_bytes(b"a\rb\n\xff\x0bc\nlast")
    assert list(iter_lines(str(p))) == ["a\rb\n", "\ufffd\x0bc\n", "last\n"]
    assert list(iter_lines(str(p), start=4, end=8)) == ["\ufffd\x0bc\n"]
    assert list(iter_lines(str(tmp_path / "missing.log"))) == []


def test_chunk_boundaries_never_split_lines(tmp_path: Path) -> None:
    p = tmp_path / "big.log"
    lines = [f"{i}:" + "y" * (i % 5000) + "\n" for i in range(3000)]
    p.write_text("".join(lines))
    assert list(iter_lines(str(p))) == lines


def test_index_offsets() -> None:
    idx = [(1000, 0), (1005, 10), (2000, 25)]
    assert offsets_for(idx, None, None) == (0, None)
    assert offsets_for(idx, 1001, None) == (10, None)
    assert offsets_for(idx, 1005, 1999) == (10, 25)
    assert offsets_for(idx, 3000, None) == (None, None)
    assert offsets_for(idx, None, 999) == (0, 0)


def test_read_index(tmp_path: Path) -> None:
    p = tmp_path / "x.idx"
    p.write_text("1000 0\n1005 10\n20")  # a torn last entry is ignored
    assert read_index(str(p)) == [(1000, 0), (1005, 10)]
    assert read_index(str(tmp_path / "none.idx")) == []


def test_follow_until_done_holds_back_partial_lines(tmp_path: Path) -> None:
    p = tmp_path / "f.log"
    finished = threading.Event()

    def writer() -> None:
        with open(p, "ab", buffering=0) as f:
            for i in range(20):
                f.write(f"line {i}".encode())
                time.sleep(0.002)
                f.write(b"\n")
        finished.set()

    t = threading.Thread(target=writer)
    t.start()
    got = list(iter_lines(str(p), done=finished.is_set, poll=0.001))
    t.join()
    assert got == [f"line {i}\n" for i in range(20)]


def test_end_known_only_when_following_stops(tmp_path: Path) -> None:
    p = tmp_path / "g.log"
    p.write_bytes(b"a\n")
    calls: list[int] = []

    def done() -> bool:  # two more lines arrive while following, then it stops
        calls.append(1)
        if len(calls) == 1:
            with open(p, "ab") as f:
                f.write(b"b\nc\n")
        return len(calls) > 1

    got = list(iter_lines(str(p), done=done, poll=0.001, end_when_done=lambda: 4))
    assert got == ["a\n", "b\n"]  # `c` was written before the read but is past the end
    calls.clear()
    p.write_bytes(b"a\n")
    got = list(iter_lines(str(p), done=done, poll=0.001, end_when_done=lambda: None))
    assert got == ["a\n", "b\n", "c\n"]


def test_since_and_until_are_inclusive_to_the_millisecond() -> None:
    """Lines written at exactly ``since`` or ``until`` are in the window; one ms off, not."""
    idx = [(1000, 0), (2000, 2), (3000, 4)]  # "a\n" at 1000 ms, "b\n" at 2000, "c\n" at 3000
    assert offsets_for(idx, None, 2000) == (0, 4)  # until: b (at 2000) is in
    assert offsets_for(idx, None, 1999) == (0, 2)
    assert offsets_for(idx, 2000, None) == (2, None)  # since: b is in
    assert offsets_for(idx, 2001, None) == (4, None)
    assert offsets_for(idx, 2000, 2000) == (2, 4)
    assert offsets_for(idx, 3001, None) == (None, None)


def test_local_log_window_edges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same edges through local_cwd's log_iter, from datetimes to the index's ms."""
    import json
    from datetime import datetime

    from torchx.schedulers.local_scheduler import LocalScheduler

    monkeypatch.setenv("TORCHX_HOME", str(tmp_path))
    app = tmp_path / "apps" / "app-1"
    logs = app / "logs" / "w" / "0"
    logs.mkdir(parents=True)
    base = 1_700_000_000_000
    (logs / "combined.log").write_text("a\nb\nc\n")
    (logs / "combined.idx").write_text(f"{base} 0\n{base + 1000} 2\n{base + 2000} 4\n")
    (app / "request.json").write_text(json.dumps(
        {"replicas": [{"role": "w", "id": 0, "log_dir": str(logs)}]}))
    (app / "state.json").write_text(json.dumps({"state": "SUCCEEDED", "created": 0}))
    sched = LocalScheduler("t")

    def at(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000)

    def window(since: int | None, until: int | None) -> list[str]:
        return list(sched.log_iter("app-1", "w", 0, since=None if since is None else at(since),
                                   until=None if until is None else at(until)))

    assert window(None, base + 1000) == ["a\n", "b\n"]
    assert window(None, base + 999) == ["a\n"]
    assert window(base + 1000, None) == ["b\n", "c\n"]
    assert window(base + 1001, None) == ["c\n"]
    assert window(base + 1000, base + 1000) == ["b\n"]


def test_last_stamp_is_the_newest_whole_entry(tmp_path: Path) -> None:
    idx = tmp_path / "x.idx"
    assert last_stamp(str(idx)) is None  # no file yet
    idx.write_bytes(b"")
    assert last_stamp(str(idx)) is None
    idx.write_bytes(b"".join(b"%d %d\n" % (1796036684000 + i, i * 1000) for i in range(500)))
    assert last_stamp(str(idx)) == 1796036684499
    with open(idx, "ab") as f:
        f.write(b"1796036685000 5")  # an entry still being written does not count
    assert last_stamp(str(idx)) == 1796036684499
