"""``python -m torchx.apps.utils.booth_main --x1 X --x2 Y``: evaluate and record the Booth function.

The value is stored with ``FsspecResultTracker(tracker_base)[trial_idx] = {"booth_eval": v}``.
"""

from __future__ import annotations

import argparse
import sys


def booth(x1: float, x2: float) -> float:
    """The Booth function; its minimum is 0 at (1, 3)."""
    return (x1 + 2 * x2 - 7) ** 2 + (2 * x1 + x2 - 5) ** 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="booth_main", description=__doc__)
    parser.add_argument("--x1", type=float, required=True)
    parser.add_argument("--x2", type=float, required=True)
    parser.add_argument("--trial_idx", type=int, default=0)
    parser.add_argument("--tracker_base", default="/tmp/torchx-util-booth")
    args = parser.parse_args(argv)
    from torchx.runtime.tracking import FsspecResultTracker

    value = booth(args.x1, args.x2)
    FsspecResultTracker(args.tracker_base)[args.trial_idx] = {"booth_eval": value}
    print(f"booth({args.x1}, {args.x2}) = {value} (trial {args.trial_idx}, {args.tracker_base})")


if __name__ == "__main__":
    main(sys.argv[1:])
