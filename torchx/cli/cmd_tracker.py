"""``torchx tracker list jobs|metadata|artifacts``: what the active tracker recorded.

The tracker is the one named by ``--tracker``, else the first activated by ``TORCHX_TRACKERS``
or ``[torchx:tracker]`` in .torchxconfig; its config comes from the same places.
"""

from __future__ import annotations

import argparse
import json
import sys

from torchx.cli.cmd_base import SubCommand
from torchx.cli.common import UsageError, out, table


class CmdTracker(SubCommand):
    def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
        subparser.add_argument(
            "--tracker", default=None,
            help="tracker to query (default: the first in TORCHX_TRACKERS or [torchx:tracker])",
        )
        subparser.add_argument("--json", action="store_true", help="print JSON")
        lists = subparser.add_subparsers(dest="action", metavar="ACTION", required=True)
        list_p = lists.add_parser("list", help="list jobs, metadata or artifacts")
        what = list_p.add_subparsers(dest="what", metavar="WHAT", required=True)
        jobs = what.add_parser("jobs", help="run ids the tracker knows")
        jobs.add_argument("--parent-run-id", "--parent_run_id", dest="parent_run_id",
                          default=None, help="only runs derived from this run")
        md = what.add_parser("metadata", help="metadata of a run")
        md.add_argument("run_id", metavar="RUN_ID", help="the run (a job handle)")
        art = what.add_parser("artifacts", help="artifacts of a run")
        art.add_argument("run_id", metavar="RUN_ID", help="the run (a job handle)")
        art.add_argument("--artifact", default=None, help="only this artifact")

    def run(self, args: argparse.Namespace) -> None:
        from torchx.tracker.api import get_tracker_factory, tracker_config

        configs = tracker_config()
        name = args.tracker or next(iter(configs), None)
        if name is None:
            raise UsageError(
                "no tracker is active: set TORCHX_TRACKERS=fsspec and"
                " TORCHX_TRACKER_FSSPEC_CONFIG=/some/dir, add [torchx:tracker] to"
                " .torchxconfig, or pass --tracker NAME"
            )
        tracker = get_tracker_factory(name)(configs.get(name))
        if args.what == "jobs":
            kwargs = {"parent_run_id": args.parent_run_id} if args.parent_run_id else {}
            ids = list(tracker.run_ids(**kwargs))
            if args.json:
                out(json.dumps(ids, indent=2))
            elif ids:
                out("\n".join(ids))
            else:  # stdout stays empty for scripts; say why on stderr
                sys.stderr.write(
                    f"torchx: no runs recorded by tracker `{name}`: a job records a run only"
                    " through AppRun.run_from_env() (torchx.tracker.app_run_from_env())\n")
        elif args.what == "metadata":
            md = dict(tracker.metadata(args.run_id))
            if args.json:
                out(json.dumps(md, indent=2, default=str))
            elif md:
                out(table([[k, str(v)] for k, v in sorted(md.items())], ["KEY", "VALUE"]))
        else:
            arts = tracker.artifacts(args.run_id)
            if args.artifact:
                arts = {k: v for k, v in arts.items() if k == args.artifact}
            if args.json:
                out(json.dumps({k: {"path": a.path, "metadata": a.metadata}
                                for k, a in arts.items()}, indent=2, default=str))
            elif arts:
                rows = [[a.name, a.path, json.dumps(a.metadata or {}, default=str)]
                        for a in arts.values()]
                out(table(rows, ["NAME", "PATH", "METADATA"]))
