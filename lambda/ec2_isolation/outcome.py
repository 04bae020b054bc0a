"""The account of one instance's isolation or release: each step's outcome, the changes, the failures."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from ec2_isolation.errors import ForeignSecurityGroup, NeedsDecision
from ec2_isolation.log import log

#: failures that a retry cannot fix: a person decides (the reconciler does not retry them every sweep)
NEEDS_A_PERSON = (NeedsDecision, ForeignSecurityGroup)

T = TypeVar("T")


class Outcome:
    """What one isolation or release did and what failed, step by step (the per-instance result)."""

    def __init__(self, instance_id: str, state: str) -> None:
        self.data: dict[str, Any] = {"instance_id": instance_id, "state": state}
        self.changes: list[str] = []
        self.failures: dict[str, str] = {}
        self.steps: dict[str, str] = {}

    def run(self, step: str, action: Callable[[], T]) -> T | None:
        """Run one step; record "ok" or its failure. A failure does not stop the other steps."""
        try:
            result = action()
        except Exception as exc:
            log(logging.ERROR, f"{step} step failed", step=step, exc_info=True)
            self.failures[step] = f"{type(exc).__name__}: {exc}"
            self.steps[step] = "failed"
            if isinstance(exc, NEEDS_A_PERSON):
                self.data.setdefault("needs_decision", {})[step] = str(exc)
            return None
        self.steps.setdefault(step, "ok")
        return result

    def fail(self, step: str, why: str) -> None:
        self.failures[step] = why
        self.steps[step] = "failed"

    def result(self, status: str) -> dict[str, Any]:
        return {
            **self.data,
            "status": status,
            "steps": self.steps,
            "changes": self.changes,
            "failures": self.failures,
        }
