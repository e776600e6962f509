"""Where an app is: AppState, and the status of an app, its roles and their replicas."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from torchx.specs.appdef import NONE
from torchx.specs.errors import AppStatusError

__all__ = ["AppState", "AppStatus", "ReplicaStatus", "RoleStatus", "is_terminal"]

# --------------------------------------------------------------------------- states


class AppState(int, enum.Enum):
    """The state of an app (and of each replica)."""

    UNSUBMITTED = 0
    SUBMITTED = 1
    PENDING = 2
    RUNNING = 3
    SUCCEEDED = 4
    FAILED = 5
    CANCELLED = 6
    UNKNOWN = 7

    def __str__(self) -> str:
        return self.name

    def is_terminal(self) -> bool:
        return self in _TERMINAL_STATES


_TERMINAL_STATES = frozenset({AppState.SUCCEEDED, AppState.FAILED, AppState.CANCELLED})


def is_terminal(state: AppState) -> bool:
    """True for SUCCEEDED, FAILED and CANCELLED."""
    return state in _TERMINAL_STATES


@dataclass
class ReplicaStatus:
    """The state of one replica of a role."""

    id: int
    state: AppState
    role: str
    hostname: str
    structured_error_msg: str = NONE


@dataclass
class RoleStatus:
    """The replicas of one role."""

    role: str
    replicas: list[ReplicaStatus] = field(default_factory=list)


@dataclass
class AppStatus:
    """Where an app is: its state, restarts, message and, where known, each replica."""

    state: AppState
    num_restarts: int = 0
    msg: str = ""
    structured_error_msg: str = NONE
    ui_url: str | None = None
    roles: list[RoleStatus] = field(default_factory=list)

    def is_terminal(self) -> bool:
        return is_terminal(self.state)

    def raise_for_status(self) -> None:
        """Raise :py:class:`AppStatusError` unless the app SUCCEEDED."""
        if self.state != AppState.SUCCEEDED:
            raise AppStatusError(self)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict: states by name, error messages parsed when they are JSON
        and ``null`` when absent."""
        return {
            "state": self.state.name,
            "num_restarts": self.num_restarts,
            "msg": self.msg,
            "structured_error_msg": _json_error(self.structured_error_msg),
            "url": self.ui_url,
            "roles": [
                {
                    "role": r.role,
                    "replicas": [
                        {
                            "id": rep.id,
                            "state": rep.state.name,
                            "role": rep.role,
                            "hostname": rep.hostname,
                            "structured_error_msg": _json_error(rep.structured_error_msg),
                        }
                        for rep in r.replicas
                    ],
                }
                for r in self.roles
            ],
        }

    def format(self, filter_roles: list[str] | None = None) -> str:
        """A human-readable block: state, restarts, message, then each role's replicas."""
        lines = [
            "AppStatus:",
            f"  State: {self.state.name}",
            f"  Num Restarts: {self.num_restarts}",
        ]
        if self.msg:
            lines.append(f"  Msg: {_indent(self.msg, 4)}")
        if self.ui_url:
            lines.append(f"  UI URL: {self.ui_url}")
        if self.structured_error_msg != NONE:
            lines.append(f"  Error: {_indent(_error_message(self.structured_error_msg), 4)}")
        roles = [r for r in self.roles if not filter_roles or r.role in filter_roles]
        if roles:
            lines.append("  Roles:")
        for r in roles:
            lines.append(f"    {r.role}:")
            for rep in r.replicas:
                host = f" on {rep.hostname}" if rep.hostname else ""
                lines.append(f"      {r.role}[{rep.id}] {rep.state.name}{host}")
                if rep.structured_error_msg != NONE:
                    err = _error_message(rep.structured_error_msg)
                    lines.append(f"        error: {_indent(err, 10)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _json_error(structured: str) -> Any:
    """None for the NONE placeholder, the parsed JSON of an error file, or the text as is."""
    if structured == NONE:
        return None
    try:
        return json.loads(structured)
    except ValueError:
        return structured


def _indent(text: str, n: int) -> str:
    return text.replace("\n", "\n" + " " * n)


def _error_message(structured: str) -> str:
    """The message of a torchelastic error file's JSON, or the text as is."""
    try:
        data = json.loads(structured)
    except ValueError:
        return structured
    if isinstance(data, dict):
        msg = data.get("message", data)
        if isinstance(msg, dict):
            return str(msg.get("message", msg))
        return str(msg)
    return structured


