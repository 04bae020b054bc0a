"""The responder CLI run in-process against the emulator, every call of it recorded: what its specs use."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from ec2_isolation.cli import main
from ec2_isolation.steps.record import _to_item
from tests.fixtures.faults import CallRecorder, Fault

READS = ("Describe", "Get", "Scan")


@dataclass
class Run:
    code: int
    out: str
    err: str
    calls: CallRecorder

    def writes(self) -> list[str]:
        """Every call the CLI made that is not a read."""
        return [op for op in self.calls.operations() if not op.startswith(READS)]

    def line(self, *words: str) -> str:
        """The one output line holding every word."""
        [found] = [line for line in self.out.splitlines() if all(w in line for w in words)]
        return found

    def row(self, label: str, *words: str) -> str:
        """The row of the side-by-side table for ``label`` (after the mark column) holding ``words``."""
        [found] = [
            line
            for line in self.out.splitlines()
            if line.lstrip("* ").startswith(label) and all(w in line for w in words)
        ]
        return found


@dataclass
class Cli:
    """Runs ``main`` in-process with its own session, whose every call is recorded.

    ``faults`` answer calls with AWS errors; ``hooks`` are more ``before-call``/``before-send``
    handlers (event name -> handler); ``sleep`` is the pause of ``--wait`` (the spec's chance to act
    while the CLI waits). ``own_session=False`` lets the CLI build its session itself (``--profile``)."""

    faults: list[Fault] = field(default_factory=list)
    hooks: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)
    sleep: Callable[[float], None] = lambda _seconds: None
    own_session: bool = True
    #: the time of ``--wait``: it passes only in the CLI's pauses, so a timeout never waits for real
    now: float = 0.0

    def _pause(self, seconds: float) -> None:
        self.now += seconds
        self.sleep(seconds)

    def __call__(self, *argv: str) -> Run:
        session = boto3.session.Session()
        calls = CallRecorder()
        session.events.register("before-call", calls)
        for fault in self.faults:
            handler: Any = fault
            session.events.register_first(f"before-call.*.{fault.operation}", handler)
        for event, hook in self.hooks:
            session.events.register_first(event, hook)
        out, err = io.StringIO(), io.StringIO()
        code = main(
            list(argv),
            session=session if self.own_session else None,
            out=out,
            err=err,
            sleep=self._pause,
            clock=lambda: self.now,
        )
        return Run(code, out.getvalue(), err.getvalue(), calls)


def put_record(dynamodb: Any, table: str, instance_id: str, **fields: Any) -> None:
    item = {
        "instance_id": instance_id,
        "status": "isolated",
        "isolation_event_id": "evt-1",
        "started_at": "2026-11-28T05:13:00+00:00",
        "prior": {"state": "running", "security_groups": {}, "instance_profile_arn": None},
        "attempts": [],
        "version": 2,
        **fields,
    }
    dynamodb.put_item(TableName=table, Item=_to_item(item))
