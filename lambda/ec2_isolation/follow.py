"""``isolate --wait`` / ``release --wait``: follow the instance's record until the outcome of the attempt
that the tag change started.

The CLI cannot know the event id EventBridge gives the tag change, so it takes a snapshot of the record
before it sets the tag, and then waits for what is new: the record taken (``isolating``/``releasing``,
the Lambda started), then a new attempt of the command's action appended to the audit trail (the
Lambda finished). Each step of that attempt is printed as the record shows it, then one line with the
outcome and how long it took. A dry-run deployment records its plan apart (``dry-run#<id>``): that is
an outcome too, and nothing was changed.

The wait only reads (``dynamodb:GetItem``); Ctrl-C stops the waiting, never the isolation, which the
Lambda carries on with since the tag is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from ec2_isolation.steps.record import DRY_RUN_KEY_PREFIX, ISOLATING, RELEASING

#: the default of ``--timeout``: one attempt lasts at most the function's timeout (the module's default,
#: 120 s), plus EventBridge's delivery and a cold start; Lambda's retries of a failed attempt come
#: minutes later, and a failed attempt ends the wait anyway (exit 1)
DEFAULT_TIMEOUT = 180.0
POLL_SECONDS = 2.0
#: exit codes of a wait
ISOLATED_OR_RELEASED, ATTEMPT_FAILED, TIMED_OUT, INTERRUPTED = 0, 1, 3, 130
_WORKING = {"isolate": ISOLATING, "release": RELEASING}
_DONE = {"isolate": "isolated", "release": "released"}
_SPINNER = "|/-\\"

Reader = Callable[[str], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Snapshot:
    """What the record said before the tag was set: only attempts after it are this command's."""

    cycle: tuple[Any, int]
    attempts: int
    dry_runs: int

    @classmethod
    def of(cls, record: Mapping[str, Any] | None, dry_run: Mapping[str, Any] | None) -> Snapshot:
        return cls(_cycle(record), len(_attempts(record)), len((dry_run or {}).get("runs") or []))


def _attempts(record: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return [a for a in (record or {}).get("attempts") or [] if isinstance(a, Mapping)]


def _cycle(record: Mapping[str, Any] | None) -> tuple[Any, int]:
    """An isolation cycle: a new isolation of a released instance moves the old one to the history."""
    if record is None:
        return (None, 0)
    return (record.get("isolation_event_id"), len(record.get("history") or []))


@dataclass
class Follower:
    """Polls the record (and the dry-run record) and prints what is new, until the outcome."""

    read: Reader
    key: str
    action: str
    #: the command that shows the record (``ec2-isolation status i-...``), named in the final lines
    follow_up: str
    snapshot: Snapshot
    out: TextIO
    tty: bool = False
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll: float = POLL_SECONDS
    seen_taken: bool = False
    steps_shown: set[str] = field(default_factory=set)
    _spin: int = 0

    def new_attempt(self, record: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        attempts = _attempts(record)
        fresh = attempts if _cycle(record) != self.snapshot.cycle else attempts[self.snapshot.attempts :]
        mine = [a for a in fresh if a.get("action", "isolate") == self.action]
        return mine[-1] if mine else None

    def new_dry_run(self, dry_run: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        runs = [r for r in (dry_run or {}).get("runs") or [] if isinstance(r, Mapping)]
        mine = [r for r in runs[self.snapshot.dry_runs :] if r.get("action") == self.action]
        return mine[-1] if mine else None

    def _say(self, line: str) -> None:
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(line + "\n")
        self.out.flush()

    def _spinner(self, elapsed: float, what: str) -> None:
        if self.tty:
            self.out.write(f"\r\033[K{_SPINNER[self._spin % 4]} {what} ({elapsed:.0f} s)")
            self._spin += 1
            self.out.flush()

    def _show_steps(self, attempt: Mapping[str, Any]) -> None:
        steps = attempt.get("steps") or {}
        failures = attempt.get("failures") or {}
        for name, state in steps.items() if isinstance(steps, Mapping) else ():
            if name not in self.steps_shown:
                self.steps_shown.add(name)
                failure = f": {' '.join(str(failures[name]).split())}" if name in failures else ""
                self._say(f"  step {name}: {state}{failure}")
        for name, message in failures.items() if isinstance(failures, Mapping) else ():
            if name not in steps:
                self._say(f"  failure {name}: {' '.join(str(message).split())}")

    def run(self, timeout: float) -> tuple[int, dict[str, Any]]:
        """Follow until the outcome; the exit code and what is known (for ``--json``)."""
        started = self.clock()
        record: dict[str, Any] | None = None
        try:
            while True:
                record = self.read(self.key)
                elapsed = self.clock() - started
                attempt = self.new_attempt(record)
                if attempt is not None:
                    return self._outcome(attempt, record, elapsed)
                dry_run = self.new_dry_run(self.read(DRY_RUN_KEY_PREFIX + self.key))
                if dry_run is not None:
                    return self._dry_run(dry_run, elapsed)
                self._progress(record, elapsed)
                if elapsed >= timeout:
                    return self._timed_out(record, elapsed)
                self.sleep(min(self.poll, max(timeout - elapsed, 0.0)))
        except KeyboardInterrupt:
            elapsed = self.clock() - started
            self._say(
                f"stopped waiting after {elapsed:.0f} s; the {self.action} goes on: the tag is set and the "
                "Lambda acts on it"
            )
            return INTERRUPTED, self._known("interrupted", record, elapsed)

    def _progress(self, record: Mapping[str, Any] | None, elapsed: float) -> None:
        working = record is not None and record.get("status") == _WORKING[self.action]
        if working and not self.seen_taken:
            self.seen_taken = True
            event = (record or {}).get("lock_event_id") or (record or {}).get("release_event_id")
            what = "the prior state recorded" if self.action == "isolate" else "releasing"
            self._say(f"the Lambda took the record (event {event}): {what}")
        self._spinner(elapsed, f"{self.action}: waiting for the Lambda" if not working else "working")

    def _known(self, outcome: str, record: Mapping[str, Any] | None, elapsed: float) -> dict[str, Any]:
        return {
            "outcome": outcome,
            "seconds": round(elapsed, 1),
            "record_status": (record or {}).get("status"),
            "lock_event_id": (record or {}).get("lock_event_id"),
        }

    def _outcome(
        self, attempt: Mapping[str, Any], record: Mapping[str, Any] | None, elapsed: float
    ) -> tuple[int, dict[str, Any]]:
        if not self.seen_taken:
            self.seen_taken = True
            self._say(f"the Lambda took the record (event {attempt.get('event_id')})")
        self._show_steps(attempt)
        failed = attempt.get("status") == "failed"
        known = {
            **self._known("failed" if failed else _DONE[self.action], record, elapsed),
            "attempt": dict(attempt),
        }
        if failed:
            self._say(
                f"{self.action} FAILED after {elapsed:.1f} s (event {attempt.get('event_id')}); Lambda "
                f"retries a failed attempt minutes later: follow it with `{self.follow_up}`"
            )
            return ATTEMPT_FAILED, known
        instance_id = self.key.rsplit(":", 1)[-1]
        self._say(f"{_DONE[self.action]} {instance_id} in {elapsed:.1f} s (event {attempt.get('event_id')})")
        return ISOLATED_OR_RELEASED, known

    def _dry_run(self, run: Mapping[str, Any], elapsed: float) -> tuple[int, dict[str, Any]]:
        for step in run.get("plan") or []:
            self._say(f"  would: {step}")
        self._say(
            f"dry run after {elapsed:.1f} s: the deployment runs dry (dry_run = true), nothing was changed "
            f"(event {run.get('event_id')})"
        )
        return ATTEMPT_FAILED, {**self._known("dry_run", None, elapsed), "dry_run": dict(run)}

    def _timed_out(self, record: Mapping[str, Any] | None, elapsed: float) -> tuple[int, dict[str, Any]]:
        status = (record or {}).get("status")
        if record is not None and status == _WORKING[self.action]:
            known = f"the record says {status} (event {record.get('lock_event_id')}), no outcome yet"
        elif self.seen_taken:
            known = f"the record says {status}"
        else:
            known = (
                "the Lambda has not taken the record: is the deployment's rule enabled, in this region, "
                "and are the tag key and values the deployment's?"
            )
        self._say(f"timed out after {elapsed:.0f} s: {known}; follow it with `{self.follow_up}`")
        return TIMED_OUT, self._known("timed_out", record, elapsed)
