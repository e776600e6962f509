"""The scheduler contract suite: every scheduler's tests inherit :py:class:`SchedulerContract`."""

from tests.contract.scheduler_contract import AWKWARD_ARGS, CAPABILITIES, SchedulerContract

__all__ = ["AWKWARD_ARGS", "CAPABILITIES", "SchedulerContract"]
