"""Specification of the benchmark: `tools/bench.py --quick` runs and writes the numbers it promises (the
shape, not the speed: the numbers themselves are the benchmark's business, not a test's), and the docs'
figures are those of the committed figures file, which `make bench` rewrites.

The docs' Benchmark section is generated from docs/bench.json (tools/benchdocs.py), so the tolerance
between the two is none: the committed section must be exactly what the committed figures give.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ec2_isolation.errors import EventIsolationFailed
from tools import bench, benchdocs

ROOT = Path(__file__).resolve().parent.parent
QUICK = [sys.executable, "-m", "tools.bench", "--quick", "--latency-ms", "1", "--burst", "3"]

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
    # Given a smoke run (tiny burst, 1 ms latency: the shape, not the speed, is under test) that writes
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
    # and the figures (without the timelines), from which the docs' copy was regenerated
    written = json.loads(figures.read_text())
    assert "timeline" not in json.dumps(written)
    assert (
        written["single"]["isolate_1eni"]["round_trips_before_first_move"]
        == (results["single"]["isolate_1eni"]["round_trips_before_first_move"])
    )
    assert benchdocs.generated(docs.read_text()) == benchdocs.render(written)


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
    ],
    ids=["a-failed-step", "an-error-outside-the-steps"],
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
