"""Specification of the benchmark: `tools/bench.py --quick` runs and writes the numbers it promises (the
shape, not the speed: the numbers themselves are the benchmark's business, not a test's), and the docs'
figures are those of the committed figures file, which `make bench` rewrites.

The docs' Benchmark section is generated from docs/bench.json (tools/benchdocs.py), so the tolerance
between the two is none: the committed section must be exactly what the committed figures give.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from ec2_isolation.errors import EventIsolationFailed, InstanceIsolationFailed
from tools import bench, bench_reconcile, benchdocs

ROOT = Path(__file__).resolve().parent.parent
#: a smoke run: 25 ms a call, so that the calls made at once overlap even on a loaded machine (the round
#: trips are counted from the calls' times: at 1 ms, a thread started late looks like a round trip of its own)
QUICK = [sys.executable, "-m", "tools.bench", "--quick", "--latency-ms", "25", "--burst", "3"]

SINGLE_SCENARIOS = {
    "isolate_1eni_cold_start",
    "isolate_1eni_cold",
    "isolate_1eni",
    "isolate_3eni",
    "release_1eni",
}
ISOLATION_KEYS = {
    "status",
    "round_trips_before_first_move",
    "first_move_ms",
    "first_move_ms_at_latency",
    "cut_ms",
    "cut_with_wait_ms",
    "completion_ms",
    "completion_with_wait_ms",
    "round_trips_to_cut",
    "round_trips_before_wait",
    "round_trips_in_wait",
    "round_trips_after_wait_to_cut",
    "round_trips_total",
    "api_calls",
    "api_calls_mutating",
    "throttled_attempts",
    "timeline",
}
BURST_KEYS = {
    "instances",
    "concurrency",
    "completion_s",
    "peak_concurrency",
    "attempts",
    "throttled_attempts",
    "failed_first_attempt",
    "first_attempt_failure_causes",
    "first_attempt_failures",
    "retry_failure_causes",
    "emulator_errors",
    "failures",
    "isolated_afterwards",
    "cpu",
}
MACHINE_KEYS = {"cores", "cpu", "memory_gib", "platform", "python", "moto", "boto3", "botocore"}
STEADY_KEYS = {
    "instances",
    "round_ms",
    "sweep_ms",
    "api_calls",
    "calls_by_action",
    "writes_by_action",
    "mutating_calls",
    "calls_if_by_pages",
    "scan_pages",
    "decisions",
    "converges_queued",
    "messages_left",
}
CATCH_UP_KEYS = {
    "instances",
    "concurrency",
    "concurrency_source",
    "total_s",
    "converges_queued",
    "api_calls",
    "calls_by_action",
    "attempts",
    "throttled_attempts",
    "throttled_by_action",
    "failed_first_attempt",
    "first_attempt_failure_causes",
    "first_attempt_failures",
    "retry_failure_causes",
    "failures",
    "dead_lettered",
    "isolated_afterwards",
    "left_in_queue",
    "bound",
}
#: what a steady-state round reads (and the one write: the round's sweep message)
STEADY_ACTIONS = {
    "dynamodb:Scan",
    "sqs:SendMessageBatch",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeInstances",
    "ec2:DescribeIamInstanceProfileAssociations",
    "auto-scaling:DescribeAutoScalingInstances",
    "elastic-load-balancing-v2:DescribeTargetGroups",
    "elastic-load-balancing-v2:DescribeTargetHealth",
}
BOUND_KEYS = {
    "by",
    "shared",
    "completion_s",
    "throttling_s",
    "workers_s",
    "emulator_s",
    "machine_busy_share",
    "emulator_cpu_cores",
}


def test_the_quick_bench_runs_and_writes_every_number_as_json(tmp_path: Path) -> None:
    # Given a smoke run (tiny burst, 25 ms a call: the shape, not the speed, is under test) that writes
    # its figures and regenerates a copy of the docs from them
    out, figures, docs = tmp_path / "bench.json", tmp_path / "figures.json", tmp_path / "failure-handling.md"
    shutil.copy(benchdocs.DOCS, docs)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "PYTHONPATH": os.pathsep.join([str(ROOT / "lambda"), str(ROOT)]),
    }
    # When the bench runs
    done = subprocess.run(
        [*QUICK, "--json-out", str(out), "--figures-out", str(figures), "--docs", str(docs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Then it prints the tables and writes the JSON with every promised number
    assert "time to network cut" in done.stdout
    assert "round trips before the first ENI move" in done.stdout
    results = json.loads(out.read_text())
    assert results["label"] == "after" and results["quick"] is True
    assert Path(results["handler"]) == ROOT / "lambda" / "ec2_isolation"
    assert set(results["machine"]) >= MACHINE_KEYS
    assert set(results["single"]) == SINGLE_SCENARIOS
    for name in SINGLE_SCENARIOS - {"release_1eni"}:
        scenario = results["single"][name]
        assert set(scenario) >= ISOLATION_KEYS, name
        assert scenario["status"] == "isolated"
        assert scenario["api_calls"] >= scenario["api_calls_mutating"] > 0
    assert results["single"]["isolate_1eni"]["round_trips_before_first_move"] <= 4
    assert results["single"]["isolate_3eni"]["enis"] == 3
    assert results["single"]["release_1eni"]["status"] == "released"
    # and the handler of the commit before the reordering, measured too, from its own code
    before = results["before"]
    assert before["commit"] == bench.BEFORE_REF, before.get("error")
    assert Path(before["handler"]) != ROOT / "lambda" / "ec2_isolation"
    assert set(before["single"]) == SINGLE_SCENARIOS
    assert before["single"]["isolate_1eni"]["round_trips_before_first_move"] > 4
    burst = results["burst"]
    assert set(burst) >= BURST_KEYS
    assert burst["instances"] == 3
    assert burst["failures"] == 0
    assert burst["isolated_afterwards"] == 3
    assert set(results["burst_bound"]) >= BOUND_KEYS
    assert {"zip_bytes", "handler_import_ms"} <= set(results["package"])
    assert "burst_1000_s" in results["throttle_bound"]
    # and the reconciler's scenarios: steady-state rounds that only read, and a catch-up that isolates all
    assert "calls per extra instance" in done.stdout
    reconcile = results["reconcile"]
    assert set(reconcile["machine"]) >= MACHINE_KEYS
    assert [s["instances"] for s in reconcile["steady"]] == [3, 6]
    for steady in reconcile["steady"]:
        assert set(steady) >= STEADY_KEYS
        assert steady["mutating_calls"] == {}
        assert steady["decisions"] == {"none": steady["instances"]}
        assert set(steady["calls_by_action"]) == STEADY_ACTIONS
    assert reconcile["no_mutating_call"] is True and reconcile["nothing_queued"] is True
    assert reconcile["calls_per_extra_instance"] is not None
    catch_up = reconcile["catch_up"]
    assert set(catch_up) >= CATCH_UP_KEYS
    assert catch_up["instances"] == catch_up["converges_queued"] == 3
    assert catch_up["failures"] == 0
    assert catch_up["isolated_afterwards"] == 3
    assert catch_up["left_in_queue"] == 0
    assert catch_up["concurrency"] == bench_reconcile.module_int("reconcile_maximum_concurrency", 10)[0]
    # and the figures (without the timelines), from which the docs' copy was regenerated
    written = json.loads(figures.read_text())
    assert "timeline" not in json.dumps(written)
    assert (
        written["single"]["isolate_1eni"]["round_trips_before_first_move"]
        == (results["single"]["isolate_1eni"]["round_trips_before_first_move"])
    )
    assert benchdocs.generated(docs.read_text()) == benchdocs.render(written)
    assert written["reconcile"]["catch_up"]["isolated_afterwards"] == 3
    assert "**The reconciler**" in benchdocs.generated(docs.read_text())


def test_the_committed_docs_figures_are_the_committed_figures_file() -> None:
    """docs/failure-handling.md's Benchmark section is exactly what docs/bench.json gives (no tolerance:
    it is generated; `make bench` or `python -m tools.benchdocs` regenerates it)."""
    figures = json.loads(benchdocs.FIGURES.read_text(encoding="utf-8"))
    assert benchdocs.generated(benchdocs.DOCS.read_text(encoding="utf-8")) == benchdocs.render(figures), (
        "the Benchmark section is stale: run python -m tools.benchdocs"
    )


def test_the_committed_figures_are_a_full_run_that_says_where_it_ran() -> None:
    figures = json.loads(benchdocs.FIGURES.read_text(encoding="utf-8"))
    assert figures["quick"] is False
    assert set(figures["machine"]) >= MACHINE_KEYS
    assert figures["before"]["commit"] == bench.BEFORE_REF
    before, after = figures["before"]["single"], figures["single"]
    assert after["isolate_1eni"]["round_trips_before_first_move"] <= 4
    assert (
        before["isolate_1eni"]["round_trips_before_first_move"]
        > after["isolate_1eni"]["round_trips_before_first_move"]
    )
    burst = figures["burst"]
    assert set(burst) >= BURST_KEYS
    # every first-attempt failure is kept, with its cause, and the causes count them all
    assert len(burst["first_attempt_failures"]) == sum(burst["first_attempt_failure_causes"].values())
    assert len({f["instance_id"] for f in burst["first_attempt_failures"]}) == burst["failed_first_attempt"]
    assert set(figures["burst_bound"]) >= BOUND_KEYS


def test_the_committed_reconciler_figures_are_a_full_run_that_says_where_it_ran() -> None:
    """The reconciler's part of docs/bench.json: steady-state rounds over 100 and 1,000 isolated instances
    that write nothing but their sweep message and whose calls grow with pages, and a catch-up of 200
    lost events at the module's concurrency that isolates every instance."""
    reconcile = json.loads(benchdocs.FIGURES.read_text(encoding="utf-8"))["reconcile"]
    assert set(reconcile["machine"]) >= MACHINE_KEYS
    assert reconcile["date"]
    assert [s["instances"] for s in reconcile["steady"]] == [100, 1000]
    for steady in reconcile["steady"]:
        assert set(steady) >= STEADY_KEYS
        assert steady["mutating_calls"] == {}, steady["instances"]
        assert steady["converges_queued"] == 0
    assert reconcile["settings"]["target_groups_in_vpc"] >= 1
    assert reconcile["calls_per_extra_instance"] == bench_reconcile.calls_per_extra_instance(
        reconcile["steady"]
    )
    assert reconcile["calls_per_extra_instance"] <= reconcile["calls_per_extra_instance_goal"] == 0.25
    catch_up = reconcile["catch_up"]
    assert set(catch_up) >= CATCH_UP_KEYS
    assert catch_up["instances"] == catch_up["converges_queued"] == catch_up["isolated_afterwards"] == 200
    assert catch_up["failures"] == 0
    assert catch_up["concurrency"] == bench_reconcile.module_int("reconcile_maximum_concurrency", 10)[0]
    assert len(catch_up["first_attempt_failures"]) == sum(catch_up["first_attempt_failure_causes"].values())


def test_make_bench_rewrites_the_committed_figures() -> None:
    # the Makefile's bench target runs the bench with BENCH_ARGS (its default, unless given)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^bench:.*\n\t(?P<command>.+)$", makefile, re.MULTILINE)
    assert recipe is not None and "-m tools.bench $(BENCH_ARGS)" in recipe["command"]
    default = re.search(r"^BENCH_ARGS \?= (?P<args>.*)$", makefile, re.MULTILINE)
    assert default is not None
    # and such a run writes docs/bench.json (and so regenerates the docs from it); a quick one does not
    assert bench.figures_target(bench.parse_args(shlex.split(default["args"]))) == benchdocs.FIGURES
    assert bench.figures_target(bench.parse_args([])) == benchdocs.FIGURES
    assert bench.figures_target(bench.parse_args(["--quick"])) is None
    assert bench.figures_target(bench.parse_args(["--single-only"])) is None
    assert bench.figures_target(bench.parse_args(["--no-figures"])) is None
    # the reconciler's part alone rewrites the figures too (it keeps the handler's: see below)
    assert bench.figures_target(bench.parse_args(["--reconcile-only"])) == benchdocs.FIGURES
    assert bench.figures_target(bench.parse_args(["--reconcile-only", "--quick"])) is None


def test_the_reconciler_options() -> None:
    args = bench.parse_args(["--reconcile-steady", "100,1000", "--catch-up", "200"])
    assert (args.reconcile_steady, args.catch_up, args.no_reconcile, args.reconcile_only) == (
        [100, 1000],
        200,
        False,
        False,
    )
    for wrong in ("100,ten", "0,100", ""):
        with pytest.raises(SystemExit):
            bench.parse_args(["--reconcile-steady", wrong])
    with pytest.raises(SystemExit):
        bench.parse_args(["--no-reconcile", "--reconcile-only"])


def test_a_run_that_leaves_a_part_out_keeps_that_parts_figures() -> None:
    previous = {"single": {"old": 1}, "burst": {"old": 2}, "reconcile": {"old": 3}}
    handler_run = {"single": {"new": 1}, "burst": {"new": 2}}
    reconciler_run = {"label": "after", "reconcile": {"new": 3}}
    # a --reconcile-only run replaces the reconciler's figures only
    merged = bench.merged_figures(reconciler_run, previous, bench.parse_args(["--reconcile-only"]))
    assert merged == {**previous, "reconcile": {"new": 3}}
    # a --no-reconcile run keeps the reconciler's
    merged = bench.merged_figures(handler_run, previous, bench.parse_args(["--no-reconcile"]))
    assert merged == {**handler_run, "reconcile": {"old": 3}}
    # a whole run replaces everything, and a first run keeps nothing
    whole = {**handler_run, "reconcile": {"new": 3}}
    assert bench.merged_figures(whole, previous, bench.parse_args([])) == whole
    assert bench.merged_figures(reconciler_run, None, bench.parse_args(["--reconcile-only"])) == {
        "reconcile": {"new": 3}
    }


def test_the_calls_per_extra_instance_are_the_slope_between_the_smallest_and_largest_round() -> None:
    steady = [{"instances": 1000, "api_calls": 28}, {"instances": 100, "api_calls": 9}]
    assert bench_reconcile.calls_per_extra_instance(steady) == round(19 / 900, 4)
    assert bench_reconcile.calls_per_extra_instance(steady[:1]) is None
    assert bench_reconcile.calls_per_extra_instance([steady[0], dict(steady[0])]) is None


def test_calls_that_grow_with_pages_not_instances() -> None:
    def pages(instances: int) -> dict[str, int]:
        return bench_reconcile.paged_calls(
            tagged=instances, isolated=instances, target_groups=1, scan_pages=1
        )

    small, large = pages(100), pages(1000)
    assert large["auto-scaling:DescribeAutoScalingInstances"] == 20
    assert small["auto-scaling:DescribeAutoScalingInstances"] == 2
    assert small["ec2:DescribeInstances"] == large["ec2:DescribeInstances"] == 1
    assert (
        small["ec2:DescribeIamInstanceProfileAssociations"],
        large["ec2:DescribeIamInstanceProfileAssociations"],
    ) == (1, 5)
    assert pages(1001)["ec2:DescribeInstances"] == 2
    assert (sum(large.values()) - sum(small.values())) / 900 <= bench_reconcile.CALLS_PER_EXTRA_INSTANCE_GOAL


def test_a_steady_state_write_is_anything_but_a_read_and_the_rounds_sweep_message() -> None:
    assert not bench_reconcile.is_write("dynamodb:Scan")
    assert not bench_reconcile.is_write("ec2:DescribeInstances")
    assert bench_reconcile.is_write("sqs:SendMessageBatch")
    assert bench_reconcile.is_write("ec2:ModifyNetworkInterfaceAttribute")
    reads = {"ec2:DescribeInstances": 1, "auto-scaling:DescribeAutoScalingInstances": 2}
    round_ = {"dynamodb:Scan": 1, "sqs:SendMessageBatch": 1}
    assert bench_reconcile.mutating_calls(round_, reads) == {}
    # a converge queued by the sweep, or a write of the round besides its sweep message, is counted
    assert bench_reconcile.mutating_calls(round_, {**reads, "sqs:SendMessageBatch": 1}) == {
        "sqs:SendMessageBatch": 1
    }
    assert bench_reconcile.mutating_calls({**round_, "dynamodb:UpdateItem": 2}, reads) == {
        "dynamodb:UpdateItem": 2
    }


def test_the_pollers_are_the_modules_default_concurrency(tmp_path: Path) -> None:
    variables = tmp_path / "variables.tf"
    variables.write_text(
        'variable "reconcile_maximum_concurrency" {\n  description = "x"\n  type        = number\n'
        "  default     = 7\n\n  validation {\n    condition     = true\n  }\n}\n"
    )
    assert bench_reconcile.module_int("reconcile_maximum_concurrency", 10, variables)[0] == 7
    variables.write_text('variable "other" {\n  default = 3\n}\n')
    count, source = bench_reconcile.module_int("reconcile_maximum_concurrency", 10, variables)
    assert count == 10 and "no default" in source
    # and the module's own variables.tf has it
    assert (bench_reconcile.module_default("reconcile_maximum_concurrency") or "").isdigit()


def test_a_steady_state_round_only_reads_and_counts_its_calls_by_action() -> None:
    # Given three isolated instances, converged, on the bench's emulator (no latency: the shape is tested)
    network = bench.SimulatedNetwork(0.0, 200, 5)
    # When one round runs
    steady = bench_reconcile.steady_state(network, 3, wait=0)
    # Then it decided each instance converged, queued nothing and wrote nothing but its sweep message
    assert steady["decisions"] == {"none": 3}
    assert steady["converges_queued"] == steady["messages_left"] == 0
    assert steady["mutating_calls"] == {}
    assert steady["writes_by_action"] == {"sqs:SendMessageBatch": 1}
    # and its calls are counted by action: the round's Scan and message, then the sweep's batched reads
    assert steady["round_calls_by_action"] == {"dynamodb:Scan": 1, "sqs:SendMessageBatch": 1}
    assert set(steady["calls_by_action"]) == STEADY_ACTIONS
    assert steady["calls_by_action"] == steady["calls_if_by_pages"]
    assert steady["api_calls"] == sum(steady["calls_by_action"].values())


@pytest.mark.parametrize(
    ("error", "step", "cause"),
    [
        (
            EventIsolationFailed(
                {
                    "event_id": "evt-burst",
                    "instances": [
                        {
                            "instance_id": "i-0123456789abcdef0",
                            "status": "failed",
                            "failures": {
                                "snapshots": "ClientError: An error occurred (RequestLimitExceeded) when "
                                "calling the CreateSnapshots operation (reached max retries: 4): Request "
                                "limit exceeded."
                            },
                        }
                    ],
                }
            ),
            "snapshots",
            "snapshots: ClientError RequestLimitExceeded (CreateSnapshots)",
        ),
        (
            RuntimeError("moto answered 500 for sg-0123456789abcdef0 after 3 s"),
            "-",
            "-: RuntimeError: moto answered # for sg-0123456789abcdef0 after # s",
        ),
        (
            InstanceIsolationFailed(
                "i-0123456789abcdef0",
                {
                    "move_interfaces": "ClientError: An error occurred (RequestLimitExceeded) when calling "
                    "the ModifyNetworkInterfaceAttribute operation (reached max retries: 4): Request limit "
                    "exceeded."
                },
                {"instance_id": "i-0123456789abcdef0", "status": "failed"},
            ),
            "move_interfaces",
            "move_interfaces: ClientError RequestLimitExceeded (ModifyNetworkInterfaceAttribute)",
        ),
    ],
    ids=["a-failed-step", "an-error-outside-the-steps", "a-failed-converge"],
)
def test_each_failure_is_kept_with_its_step_and_counted_by_cause(
    error: Exception, step: str, cause: str
) -> None:
    [failure] = bench.failed_attempts("i-0123456789abcdef0", 0, error)
    assert failure.step == step
    assert failure.cause == cause.replace("sg-0123456789abcdef0", "#")
    assert failure.as_dict()["message"]
    assert bench.causes([failure, failure]) == {failure.cause: 2}


def test_the_emulators_own_errors_are_counted_from_its_log() -> None:
    log = (
        '127.0.0.1 - - [x] "POST / HTTP/1.1" 500 -\n'
        "Traceback (most recent call last):\n"
        '  File "/venv/site-packages/werkzeug/serving.py", line 370, in run_wsgi\n'
        "    execute(self.server.app)\n"
        '  File "/venv/site-packages/moto/ec2/models/tags.py", line 93, in describe_tags\n'
        "    for key, value in tags.items():\n"
        "RuntimeError: dictionary changed size during iteration\n"
        '127.0.0.1 - - [x] "POST / HTTP/1.1" 200 -\n'
    )
    assert bench.emulator_errors(log * 2) == {
        "RuntimeError: dictionary changed size during iteration (in moto/ec2/models/tags.py: describe_tags)": 2
    }
    # and a step that failed on such an answer names it
    page = "b'<!doctype html>\\n<title>500 Internal Server Error</title>"
    cause = bench.failure_cause("snapshots", "ResponseParserError", f"Unable to parse response\n{page}")
    assert cause.endswith("[the answer: an HTML page, 500 Internal Server Error]")


class TestRoundTripsAreCountedByWhatWaitedForWhat:
    """The simulated network follows each call's line (its thread and context, and the tasks the line
    started and waited for), so a thread the scheduler starts late adds no round trip."""

    @pytest.fixture
    def network(self) -> Any:
        from moto import mock_aws

        with mock_aws():
            network = bench.SimulatedNetwork(0.01, 200, 5)
            sts = network.hook(boto3.client("sts", region_name="us-east-1"))
            yield network, sts

    def test_calls_one_after_another_are_one_round_trip_each(self, network: Any) -> None:
        network, sts = network
        with network.invocation("sequential"):
            for _ in range(3):
                sts.get_caller_identity()
        attempts = network.of("sequential")
        assert [a.depth for a in attempts] == [1, 2, 3]
        assert attempts[2].waited_for(attempts[0])
        assert bench.critical_path(attempts) == 3

    def test_tasks_at_the_same_time_are_one_round_trip_however_late_a_thread_starts(
        self, network: Any
    ) -> None:
        from ec2_isolation.concurrent import in_parallel

        network, sts = network

        def late(seconds: float) -> Any:
            def task() -> Any:
                time.sleep(seconds)  # the scheduler starts this one long after its sibling ended
                return sts.get_caller_identity()

            return task

        with network.invocation("parallel"):
            sts.get_caller_identity()
            in_parallel({"prompt": late(0.0), "late": late(0.2)})
            sts.get_caller_identity()
        first, prompt, late_one, last = sorted(network.of("parallel"), key=lambda a: a.start)
        assert prompt.end < late_one.start, "the late task started after its sibling's call had ended"
        assert (first.depth, prompt.depth, late_one.depth, last.depth) == (1, 2, 2, 3)
        assert bench.at_once(prompt, late_one)
        assert last.waited_for(prompt) or last.waited_for(late_one)
        assert bench.critical_path([first, prompt, late_one, last]) == 3

    def test_tasks_run_one_after_another_in_one_thread_are_sequential(self, network: Any) -> None:
        network, sts = network
        with network.invocation("inline"):
            sts.get_caller_identity()
            for _ in range(2):  # what an in_parallel that ran its tasks in turn would do
                contextvars.copy_context().run(sts.get_caller_identity)
        # a task run in a copy of the context, but on the caller's thread, continues its line
        assert [a.depth for a in network.of("inline")] == [1, 2, 3]

    def test_each_invocation_starts_a_line_of_its_own(self, network: Any) -> None:
        network, sts = network
        with network.invocation("one"):
            sts.get_caller_identity()
        with network.invocation("two"):
            sts.get_caller_identity()
        [two] = network.of("two")
        assert (two.depth, two.predecessor) == (1, None)


def test_the_committed_package_figure_is_the_committed_zip() -> None:
    """The zip is reproducible and committed, so its figure is exact: after a change to the handler's
    sources, `make package` and `make bench BENCH_ARGS=--package-only` (seconds) bring both up to date."""
    figures = json.loads(benchdocs.FIGURES.read_text(encoding="utf-8"))
    assert figures["package"]["zip_bytes"] == bench.ZIP.stat().st_size, (
        "the package figures are stale: run make bench BENCH_ARGS=--package-only"
    )


def test_a_package_only_run_replaces_the_package_figures_alone_and_says_when(tmp_path: Path) -> None:
    # Given a copy of the committed figures whose package part is an older one, and of the docs
    figures, docs = tmp_path / "bench.json", tmp_path / "failure-handling.md"
    committed = json.loads(benchdocs.FIGURES.read_text(encoding="utf-8"))
    figures.write_text(json.dumps({**committed, "package": {**committed["package"], "zip_bytes": 1}}))
    shutil.copy(benchdocs.DOCS, docs)
    # When the package alone is measured into them
    assert bench.main(["--package-only", "--figures-out", str(figures), "--docs", str(docs)]) == 0
    # Then the package part is this zip's, with when and where it was measured, and the rest is as it was
    written = json.loads(figures.read_text())
    assert written["package"]["zip_bytes"] == bench.ZIP.stat().st_size
    assert written["package"]["date"] and set(written["package"]["machine"]) >= MACHINE_KEYS
    assert {k: v for k, v in written.items() if k != "package"} == {
        k: v for k, v in committed.items() if k != "package"
    }
    # and the docs, regenerated from them, say the package was measured apart
    section = benchdocs.generated(docs.read_text())
    assert section == benchdocs.render(written)
    assert f"The package figures are from {written['package']['date']}" in " ".join(section.split())


@pytest.mark.parametrize("other", ["--quick", "--single-only", "--no-figures", "--reconcile-only"])
def test_a_package_only_run_is_nothing_else(other: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        bench.parse_args(["--package-only", other])
    assert exited.value.code == 2
    assert "--package-only" in capsys.readouterr().err


def test_a_package_only_run_needs_the_figures_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "bench.json"
    assert (
        bench.main(["--package-only", "--figures-out", str(missing), "--docs", str(tmp_path / "x.md")]) == 2
    )
    assert "does not exist: a full `make bench` writes it first" in capsys.readouterr().err
    assert not missing.exists()
