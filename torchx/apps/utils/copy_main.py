"""``python -m torchx.apps.utils.copy_main --src URL --dst URL``: copy one file with fsspec."""

from __future__ import annotations

import argparse
import sys

_CHUNK = 1 << 20


def copy(src: str, dst: str) -> int:
    """Copy ``src`` to ``dst`` (fsspec URLs or paths), creating ``dst``'s parents; bytes copied."""
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError:
        raise SystemExit("utils.copy needs fsspec in the job's image: pip install 'torchx[fsspec]'") from None
    fs, path = fsspec.core.url_to_fs(dst)
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)
    total = 0
    with fsspec.open(src, "rb") as fin, fsspec.open(dst, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)
            total += len(chunk)
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="copy_main", description=__doc__)
    parser.add_argument("--src", required=True, help="source URL")
    parser.add_argument("--dst", required=True, help="destination URL")
    args = parser.parse_args(argv)
    try:
        n = copy(args.src, args.dst)
    except FileNotFoundError as e:
        raise SystemExit(f"copy: source not found: {e}") from None
    print(f"copied {n} bytes from {args.src} to {args.dst}")


if __name__ == "__main__":
    main(sys.argv[1:])
