"""Specification of ``isolate --wait`` and ``release --wait``: after the tag is set, the CLI follows the
instance's record until the outcome of the attempt the tag change started. Run in-process against the
emulator; the Lambda runs (the real handler) while the CLI waits, in its pause between two reads."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime
from typing import Any, ClassVar

from ec2_isolation.config import Settings
from ec2_isolation.errors import EventIsolationFailed
from ec2_isolation.follow import Follower, Snapshot
from ec2_isolation.steps.record import begin_isolation, read_record
from tests.fixtures.events import tag_change_event
from tests.fixtures.faults import Fault
from tests.unit.conftest import Invoke, Launch, eni_groups, groups_named, tags_of
from tests.unit.responder import Cli, put_record


class Lambda:
    """What EventBridge and the function do while the CLI waits: at the ``at``-th pause of the CLI, the
    tag change is delivered to the handler with the instance's tags as they are then."""

    def __init__(
        self,
        ec2: Any,
        invoke: Invoke,
        instance_id: str,
        *,
        at: int = 1,
        event_id: str | None = None,
        **invoke_args: Any,
    ) -> None:
        self.ec2, self.invoke, self.instance_id, self.at = ec2, invoke, instance_id, at
        self.event_id = event_id
        self.invoke_args = invoke_args
        self.pauses: list[float] = []
        self.results: list[Any] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if len(self.pauses) == self.at:
            tags = tags_of(self.ec2, self.instance_id)
            event = tag_change_event([self.instance_id], tags=tags, event_id=self.event_id)
            try:
                self.results.append(self.invoke(event, **self.invoke_args))
            except EventIsolationFailed as exc:  # Lambda would retry it: here it is the failed attempt
                self.results.append(exc)


def recorded_steps(dynamodb: Any, table: str, instance_id: str) -> dict[str, str]:
    record = read_record(dynamodb, table, instance_id)
    assert record is not None
    steps: dict[str, str] = record["attempts"][-1]["steps"]
    return steps


class TestIsolateWait:
    def test_it_follows_the_record_to_isolated_a_line_per_step(
        self, ec2: Any, dynamodb: Any, record_table: str, launch: Launch, cli: Cli, invoke: Invoke
    ) -> None:
        # Given an instance that is not isolated
        instance_id = launch()
        # When a responder isolates it and waits, and the tag change reaches the Lambda during the wait
        cli.sleep = delivery = Lambda(ec2, invoke, instance_id)
        run = cli("isolate", instance_id, "--wait")
        # Then the CLI exits 0 once the record says the isolation is done
        assert run.code == 0, run.out + run.err
        assert delivery.pauses == [2.0], "it read the record every 2 s until the outcome"
        [isolation] = groups_named(ec2, "ec2-isolation-isolation")
        assert list(eni_groups(ec2, instance_id).values()) == [[isolation["GroupId"]]]
        # and it printed one line per step the record shows, then the outcome and how long it took
        lines = run.out.splitlines()
        steps = recorded_steps(dynamodb, record_table, instance_id)
        assert len(steps) >= 6
        for step, state in steps.items():
            assert f"  step {step}: {state}" in lines
        event_id = read_record(dynamodb, record_table, instance_id)["attempts"][-1]["event_id"]  # type: ignore[index]
        assert lines[0].startswith(f"set tag SecurityIsolation=Isolate on {instance_id}")
        assert lines[1] == f"the Lambda took the record (event {event_id})"
        assert lines[-1].startswith(f"isolated {instance_id} in ")
        assert lines[-1].endswith(f" s (event {event_id})")
        # and the wait itself only read: the one write is the tag
        assert run.writes() == ["CreateTags"]
        assert set(run.calls.operations()) - {"CreateTags"} == {"DescribeInstances", "GetItem"}

    def test_a_record_taken_before_the_outcome_is_shown_as_it_happens(
        self, ec2: Any, dynamodb: Any, record_table: str, launch: Launch, cli: Cli, invoke: Invoke
    ) -> None:
        # Given the Lambda takes the record at the CLI's first pause and finishes at its second
        instance_id = launch()
        event_id = "11111111-2222-3333-4444-555555555555"
        finish = Lambda(ec2, invoke, instance_id, at=2, event_id=event_id)

        def pause(seconds: float) -> None:
            if not finish.pauses:
                begin_isolation(
                    dynamodb,
                    record_table,
                    instance_id=instance_id,
                    event_id=event_id,
                    prior={"state": "running"},
                    now=datetime.now(tz=UTC),
                    lock_seconds=300,
                )
            finish(seconds)

        cli.sleep = pause
        # When the responder waits
        run = cli("isolate", instance_id, "--wait")
        # Then the record being taken is a line of its own, before the steps
        assert run.code == 0, run.out + run.err
        lines = run.out.splitlines()
        taken = lines.index(f"the Lambda took the record (event {event_id}): the prior state recorded")
        first_step = next(i for i, line in enumerate(lines) if line.startswith("  step "))
        assert taken < first_step
        assert lines[-1].startswith(f"isolated {instance_id} in ")

    def test_a_failed_attempt_exits_1_with_its_failures(
        self,
        ec2: Any,
        dynamodb: Any,
        record_table: str,
        launch: Launch,
        cli: Cli,
        invoke: Invoke,
        settings: Settings,
    ) -> None:
        # Given a deployment whose isolation profile does not exist (the profile step fails)
        broken = dataclasses.replace(
            settings,
            isolation_instance_profile_arn="arn:aws:iam::123456789012:instance-profile/does-not-exist",
        )
        instance_id = launch()
        cli.sleep = delivery = Lambda(ec2, invoke, instance_id, settings=broken)
        # When the responder isolates and waits
        run = cli("isolate", instance_id, "--wait")
        # Then the attempt failed: exit 1, each failure named, and the retry to come said
        assert isinstance(delivery.results[0], EventIsolationFailed)
        record = read_record(dynamodb, record_table, instance_id)
        assert record is not None and record["status"] == "failed"
        failures = record["attempts"][-1]["failures"]
        assert failures
        assert run.code == 1, run.out + run.err
        for step in failures:
            assert any(
                line.startswith(f"  step {step}: failed") or line.startswith(f"  failure {step}: ")
                for line in run.out.splitlines()
            ), run.out
        last = run.out.splitlines()[-1]
        assert last.startswith("isolate FAILED after ")
        assert f"status {instance_id}" in last and "retries" in last

    def test_it_times_out_with_exit_3_and_what_is_known(self, ec2: Any, launch: Launch, cli: Cli) -> None:
        # Given a tag change that no Lambda acts on (the rule is off, or another region)
        instance_id = launch()
        # When the responder waits for a short time
        run = cli("isolate", instance_id, "--wait", "--timeout", "0.2")
        # Then it gives up with exit 3, saying the Lambda never took the record, and the tag stays set
        assert run.code == 3, run.out + run.err
        last = run.out.splitlines()[-1]
        assert last.startswith("timed out after ")
        assert "the Lambda has not taken the record" in last and f"status {instance_id}" in last
        assert tags_of(ec2, instance_id)["SecurityIsolation"] == "Isolate"

    def test_a_timeout_while_the_record_is_held_says_by_which_event(
        self, dynamodb: Any, record_table: str, launch: Launch, cli: Cli
    ) -> None:
        # Given an isolation that took the record and has not finished (a Lambda still running)
        instance_id = launch()
        put_record(
            dynamodb,
            record_table,
            instance_id,
            status="isolating",
            lock_event_id="evt-running",
            lock_expires_at=2**40,
            attempts=[],
        )
        # When the responder retriggers and waits a short time
        run = cli("isolate", instance_id, "--wait", "--timeout", "0.2")
        # Then the timeout names what the record says
        assert run.code == 3, run.out + run.err
        assert "the record says isolating (event evt-running), no outcome yet" in run.out

    def test_ctrl_c_stops_the_waiting_not_the_isolation(self, ec2: Any, launch: Launch, cli: Cli) -> None:
        # Given a responder waiting for an isolation
        instance_id = launch()

        def interrupt(_seconds: float) -> None:
            raise KeyboardInterrupt

        cli.sleep = interrupt
        # When they press Ctrl-C
        run = cli("isolate", instance_id, "--wait")
        # Then the CLI stops waiting (exit 130) and says the isolation goes on; the tag stays set
        assert run.code == 130, run.out + run.err
        assert "stopped waiting after" in run.out and "the isolate goes on" in run.out
        assert tags_of(ec2, instance_id)["SecurityIsolation"] == "Isolate"
        assert run.writes() == ["CreateTags"]

    def test_json_prints_one_document_with_the_outcome_and_the_progress_on_stderr(
        self, ec2: Any, launch: Launch, cli: Cli, invoke: Invoke
    ) -> None:
        instance_id = launch()
        cli.sleep = Lambda(ec2, invoke, instance_id)
        run = cli("isolate", instance_id, "--wait", "--json")
        assert run.code == 0, run.err
        document = json.loads(run.out)
        assert document["set"] is True
        assert document["wait"]["outcome"] == "isolated"
        assert document["wait"]["attempt"]["status"] == "isolated"
        assert document["wait"]["record_status"] == "isolated"
        assert "step " in run.err and f"isolated {instance_id} in " in run.err

    def test_an_isolated_instance_whose_tag_is_already_set_is_done_at_once(
        self, ec2: Any, launch: Launch, cli: Cli, invoke: Invoke
    ) -> None:
        # Given an instance isolated by its tag
        instance_id = launch(tags={"Name": "web-01", "SecurityIsolation": "Isolate"})
        invoke(tag_change_event([instance_id]))
        # When the responder isolates it again and waits
        run = cli("isolate", instance_id, "--wait")
        # Then nothing is set (EventBridge would fire no event) and the record says it is done
        assert run.code == 0, run.out + run.err
        assert run.writes() == []
        assert f"{instance_id} is already isolated" in run.out

    def test_a_failed_record_whose_tag_is_already_set_points_at_retrigger(
        self, dynamodb: Any, record_table: str, launch: Launch, cli: Cli
    ) -> None:
        instance_id = launch(tags={"Name": "web-01", "SecurityIsolation": "Isolate"})
        put_record(dynamodb, record_table, instance_id, status="failed")
        run = cli("isolate", instance_id, "--wait")
        assert run.code == 1
        assert run.err.startswith("error: nothing to wait for") and "--retrigger" in run.err
        assert len(run.err.splitlines()) == 1

    def test_a_record_it_cannot_read_is_an_error_after_the_tag_is_set(
        self, ec2: Any, launch: Launch, cli: Cli
    ) -> None:
        # Given a responder allowed to tag but not to read the record
        instance_id = launch()
        cli.faults.append(Fault("GetItem", "AccessDeniedException", "not authorized to perform: GetItem"))
        # When they isolate and wait
        run = cli("isolate", instance_id, "--wait")
        # Then the tag is set all the same (the isolation must not depend on the wait), and the error
        # names the missing permission
        assert tags_of(ec2, instance_id)["SecurityIsolation"] == "Isolate"
        assert run.code == 1
        assert run.err.startswith("error: the tag is set, but the record cannot be read to follow it")
        assert "dynamodb:GetItem" in run.err and len(run.err.splitlines()) == 1


class TestReleaseWait:
    def test_it_follows_the_release_to_released(
        self,
        ec2: Any,
        dynamodb: Any,
        record_table: str,
        launch: Launch,
        cli: Cli,
        invoke: Invoke,
        network: Any,
    ) -> None:
        # Given an isolated instance
        instance_id = launch(tags={"Name": "web-01", "SecurityIsolation": "Isolate"})
        invoke(tag_change_event([instance_id], event_id="evt-isolate"))
        # When the responder releases it and waits, and the release event arrives meanwhile
        cli.sleep = Lambda(ec2, invoke, instance_id)
        run = cli("release", instance_id, "--wait")
        # Then the wait ends with the release attempt (not the isolation attempt already in the record)
        assert run.code == 0, run.out + run.err
        record = read_record(dynamodb, record_table, instance_id)
        assert record is not None and record["status"] == "released"
        release = record["attempts"][-1]
        assert release["action"] == "release"
        assert run.out.splitlines()[-1].startswith(f"released {instance_id} in ")
        assert f"(event {release['event_id']})" in run.out.splitlines()[-1]
        for step, state in release["steps"].items():
            assert f"  step {step}: {state}" in run.out.splitlines()
        assert list(eni_groups(ec2, instance_id).values()) == [[network.app_group_id]]

    def test_isolating_a_released_instance_again_waits_for_the_new_cycle(
        self, ec2: Any, dynamodb: Any, record_table: str, launch: Launch, cli: Cli, invoke: Invoke
    ) -> None:
        # Given an instance isolated and released (its record holds one attempt of each)
        instance_id = launch(tags={"Name": "web-01", "SecurityIsolation": "Isolate"})
        invoke(tag_change_event([instance_id], event_id="evt-1"))
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "SecurityIsolation", "Value": "Release"}])
        invoke(tag_change_event([instance_id], event_id="evt-2", tags=tags_of(ec2, instance_id)))
        # When it is isolated again, with a wait (the new cycle starts with an empty audit trail)
        cli.sleep = Lambda(ec2, invoke, instance_id)
        run = cli("isolate", instance_id, "--wait")
        # Then the new cycle's attempt is the outcome
        assert run.code == 0, run.out + run.err
        record = read_record(dynamodb, record_table, instance_id)
        assert record is not None and len(record["history"]) == 1 and record["status"] == "isolated"
        assert run.out.splitlines()[-1].startswith(f"isolated {instance_id} in ")


class TestFollower:
    """The follower alone, on records given by the spec."""

    @staticmethod
    def follower(records: list[dict[str, Any] | None], *, tty: bool, out: io.StringIO) -> Follower:
        reads = iter(records)
        last: list[dict[str, Any] | None] = [None]

        def read(key: str) -> dict[str, Any] | None:
            if key.startswith("dry-run#"):
                return None
            last[0] = next(reads, last[0])
            return last[0]

        clock = iter(float(n) for n in range(100))
        return Follower(
            read=read,
            key="i-0123456789abcdef0",
            action="isolate",
            follow_up="ec2-isolation status i-0123456789abcdef0",
            snapshot=Snapshot.of(None, None),
            out=out,
            tty=tty,
            clock=lambda: next(clock),
            sleep=lambda _s: None,
        )

    RECORDS: ClassVar[list[dict[str, Any] | None]] = [
        None,
        {"status": "isolating", "isolation_event_id": "e", "lock_event_id": "e", "attempts": []},
        {
            "status": "isolated",
            "isolation_event_id": "e",
            "attempts": [
                {"action": "isolate", "event_id": "e", "status": "isolated", "steps": {"network": "ok"}}
            ],
        },
    ]

    def test_without_a_tty_it_prints_plain_lines_only(self) -> None:
        out = io.StringIO()
        code, known = self.follower(self.RECORDS, tty=False, out=out).run(60)
        assert (code, known["outcome"]) == (0, "isolated")
        assert "\r" not in out.getvalue() and "\033" not in out.getvalue()
        assert out.getvalue().splitlines() == [
            "the Lambda took the record (event e): the prior state recorded",
            "  step network: ok",
            "isolated i-0123456789abcdef0 in 3.0 s (event e)",  # the clock ticks a second a read
        ]

    def test_on_a_tty_a_spinner_shows_the_wait_and_is_cleared_before_each_line(self) -> None:
        out = io.StringIO()
        code, _ = self.follower(self.RECORDS, tty=True, out=out).run(60)
        assert code == 0
        text = out.getvalue()
        assert "\r\033[K| isolate: waiting for the Lambda (1 s)" in text
        assert "\r\033[K  step network: ok\n" in text

    def test_a_dry_run_deployment_is_an_outcome_with_nothing_changed(self) -> None:
        out = io.StringIO()
        runs = {
            "runs": [{"action": "isolate", "event_id": "d", "plan": ["move eni-1 to the isolation group"]}]
        }
        follower = self.follower([None], tty=False, out=out)
        follower.read = lambda key: runs if key.startswith("dry-run#") else None
        code, known = follower.run(60)
        assert (code, known["outcome"]) == (1, "dry_run")
        assert "  would: move eni-1 to the isolation group" in out.getvalue()
        assert "nothing was changed" in out.getvalue()
