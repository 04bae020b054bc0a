"""`make demo` (tools/demo.py) end to end: it isolates the tagged instance, then releases it, and says
so; its verdict comes from the emulator's state (without the delivery it fails).

The two demo runs start in the background at the first end-to-end test of the session and these tests
run last (tests/e2e/conftest.py), so the demos overlap the other tests instead of adding their time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import DEMO_RUNS, DemoRuns

pytestmark = pytest.mark.e2e

ISOLATION_GROUP = "ec2-isolation-isolation"


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()

    def section(self, start: str, end: str) -> list[str]:
        """The lines from the one starting with ``start`` up to (without) the next starting with ``end``."""
        lines = self.lines
        first = next(i for i, line in enumerate(lines) if line.startswith(start))
        last = next((i for i in range(first + 1, len(lines)) if lines[i].startswith(end)), len(lines))
        return lines[first:last]


def before_after_table(run: Run, header_start: str, step: str = "[7/9]") -> list[list[str]]:
    """The rows of the ``step`` table whose header starts with ``header_start``, cells split on 2+ spaces."""
    section = [line.strip() for line in run.section(step, "RESULT")]
    start = next(i for i, line in enumerate(section) if line.startswith(header_start))
    rows: list[list[str]] = []
    for line in section[start:]:
        if not line:
            break
        rows.append(re.split(r"\s{2,}", line))
    return rows


def assert_cleaned_up(run: Run) -> None:
    """terraform destroy removed as many resources as the apply made, and the emulator was stopped."""
    applied = re.search(r"^ +(\d+) resources: function ", run.output, re.MULTILINE)
    destroyed = re.search(r"Destroy complete! Resources: (\d+) destroyed\.", run.output)
    assert applied and destroyed, run.output
    assert int(destroyed[1]) == int(applied[1]) > 0
    assert run.lines[-2:] == ["[cleanup] stopping the emulator", "[cleanup] done"]


@pytest.fixture(scope="module")
def runs(started_demo_runs: DemoRuns) -> dict[str, Run]:
    """tools/demo.py as `make demo` runs it, and with the hidden --no-deliver flag: started in the
    background by the first end-to-end test of the session (see conftest), waited for here."""
    return {name: Run(*started_demo_runs.wait(name)) for name in DEMO_RUNS}


def test_the_demo_isolates_the_tagged_instance_and_exits_0(runs: dict[str, Run]) -> None:
    run = runs["demo"]
    assert run.returncode == 0, run.output
    # the progress lines, in order
    steps = [line for line in run.lines if re.match(r"^\[\d/9\] ", line)]
    assert [step[:5] for step in steps] == [f"[{n}/9]" for n in range(1, 10)], run.output
    assert re.match(r"^\[1/9\] starting the AWS emulator on 127\.0\.0\.1:\d+$", steps[0])
    # the routing: the module's rule matched, its target is the function
    routing = "\n".join(run.section("[5/9]", "[6/9]"))
    assert "rule ec2-isolation-on-isolation-tag (enabled) matches" in routing
    assert "function:ec2-isolation" in routing
    # the function's log: its context (action, instance, account, region, event) once, then a line per
    # thing it did, naming the ENIs, groups and profile, not the context again
    log = [line.strip() for line in run.section("[6/9]", "[7/9]")]
    log = log[log.index("log:") + 1 :]
    log = log[: next(i for i, line in enumerate(log) if line.startswith("returned "))]
    [context] = [line for line in log if line.startswith("-- ")]
    assert re.match(
        r"^-- isolate i-[0-9a-f]{17} \(web-01\) in 123456789012 us-east-1, event [0-9a-f]{8}$", context
    )
    assert not [line for line in log if "account=" in line or "region=" in line or "action=" in line], log
    moved = [line for line in log if line.startswith("INFO  moved interface")]
    assert len(moved) == 4, log  # two ENIs, onto the transition group, then onto the isolation group
    assert all(re.search(r"group=sg-[0-9a-f]+ eni=eni-[0-9a-f]+ device=[01]", line) for line in moved), moved
    assert any(line.startswith("INFO  swapped instance profile  was=web-app") for line in log), log
    # before/after of the tagged instance: both ENIs from their groups onto the isolation group only
    web = before_after_table(run, "web-01 i-")
    enis = [row for row in web if row[0].startswith("eni-")]
    assert len(enis) == 2, web
    assert [(row[1], row[2]) for row in enis] == [("app", ISOLATION_GROUP), ("mgmt", ISOLATION_GROUP)], web
    assert ["instance profile", "web-app", ISOLATION_GROUP] in web
    assert ["tag SecurityIsolation:Status", "-", "Isolated"] in web
    # the sibling is untouched
    worker = before_after_table(run, "worker-01 i-")
    assert all(row[1] == row[2] for row in worker[1:]), worker
    assert "RESULT: web-01 is isolated" in run.output
    # then the release: the same tag set to Release, routed by the same rule, run by the same function
    release = "\n".join(run.section("[8/9]", "[9/9]"))
    assert "Key=SecurityIsolation,Value=Release" in release
    assert "rule ec2-isolation-on-isolation-tag (enabled) matches" in release
    assert "returned released" in release
    # and the state recorded before the isolation is back
    released = before_after_table(run, "web-01 i-", step="[9/9]")
    assert released[0][1:] == ["before", "isolated", "released"], released
    assert [row[1:] for row in released if row[0].startswith("eni-")] == [
        ["app", ISOLATION_GROUP, "app"],
        ["mgmt", ISOLATION_GROUP, "mgmt"],
    ], released
    assert ["instance profile", "web-app", ISOLATION_GROUP, "web-app"] in released
    assert ["tag :Status", "-", "Isolated", "Released"] in released
    assert "RESULT: web-01 is released" in run.output
    # and it cleaned up after itself
    assert_cleaned_up(run)


def test_the_demo_exits_non_zero_when_isolation_does_not_happen(runs: dict[str, Run]) -> None:
    run = runs["no-deliver"]
    # Given a run in which the event is not delivered (so the function never runs)
    assert "[6/9] skipped (--no-deliver)" in run.output
    # Then the state read from the emulator is not isolated, and the demo says so and fails
    assert run.returncode == 1, run.output
    assert "RESULT: web-01 was NOT isolated" in run.output
    assert "there is no isolation group" in run.output
    assert "[8/9] skipped: web-01 was not isolated" in run.output
    web = before_after_table(run, "web-01 i-")
    assert [row[2] for row in web if row[0].startswith("eni-")] == ["app", "mgmt"]
    # and still cleans up
    assert_cleaned_up(run)
    assert all(len(line) <= 100 for line in run.lines + runs["demo"].lines), "fits a 100-column terminal"
