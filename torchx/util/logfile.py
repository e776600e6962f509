"""Reading the whole-line logs the local supervisor writes, by byte range, time or as a tail.

A log ``x.log`` has a side index ``x.idx`` of ``<unix ms> <byte offset>`` lines: the bytes from
one entry's offset to the next were written at that entry's time.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator

_CHUNK = 1 << 20


def read_index(idx_path: str) -> list[tuple[int, int]]:
    """The (ms, offset) entries of an index file (empty if it does not exist)."""
    try:
        with open(idx_path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    out = []
    for line in data.split(b"\n"):
        ms, _, off = line.partition(b" ")
        if off:
            out.append((int(ms), int(off)))
    return out


def last_stamp(idx_path: str) -> int | None:
    """The time of the newest entry of an index file (None if it has none yet)."""
    try:
        with open(idx_path, "rb") as f:  # an entry is under 40 bytes, written whole
            f.seek(max(0, os.fstat(f.fileno()).st_size - 128))
            lines = f.read().split(b"\n")
    except OSError:
        return None
    complete = [line for line in lines[:-1] if b" " in line]
    return int(complete[-1].partition(b" ")[0]) if complete else None


def offsets_for(idx: list[tuple[int, int]], since_ms: int | None,
                until_ms: int | None) -> tuple[int | None, int | None]:
    """Byte range [start, end) of lines written in [since_ms, until_ms]; None: open-ended.

    A start of None with ``since_ms`` set means nothing was written since then yet (read from
    the current end).
    """
    start: int | None = 0
    end: int | None = None
    if since_ms is not None:
        start = next((off for ms, off in idx if ms >= since_ms), None)
    if until_ms is not None:
        end = next((off for ms, off in idx if ms > until_ms), None)
    return start, end


def iter_lines(
    path: str,
    start: int = 0,
    end: int | None = None,
    done: Callable[[], bool] | None = None,
    poll: float = 0.05,
    end_when_done: Callable[[], int | None] | None = None,
) -> Iterator[str]:
    """Whole lines (each ending in a newline) of ``path`` from byte ``start`` up to ``end``.

    With ``done``, keeps following the file until ``done()`` is true, then reads what is left
    (up to ``end_when_done()`` when given: an end only known once following stops).
    A trailing partial line is only returned once the file is finished.
    """
    rest = b""
    pos = start
    finishing = done is None
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in finally
    except FileNotFoundError:
        if done is None:
            return
        while not done():
            time.sleep(poll)
            if os.path.exists(path):
                yield from iter_lines(path, start, end, done, poll, end_when_done)
                return
        return
    try:
        f.seek(start)
        while True:
            n = _CHUNK if end is None else min(_CHUNK, end - pos)
            chunk = f.read(n) if n > 0 else b""
            if chunk:
                pos += len(chunk)
                data = rest + chunk if rest else chunk
                cut = data.rfind(b"\n") + 1
                rest = data[cut:]
                if cut:
                    yield from io.StringIO(data[:cut].decode("utf-8", "replace"), newline="\n")
                continue
            if finishing or (end is not None and pos >= end):
                break
            assert done is not None  # else finishing
            if not done():
                time.sleep(poll)
                if end_when_done is None or not done():  # (asked again right before reading
                    continue  # when the end depends on it: nothing newer is read)
            finishing = True  # the writer has stopped: one last read
            if end_when_done is not None:
                end = end_when_done()
                if end is not None and pos >= end:
                    break
        if rest:
            yield rest.decode("utf-8", "replace") + "\n"
    finally:
        f.close()
