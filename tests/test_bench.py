"""Specification of the benchmark's smoke run: `tools/bench.py --quick` runs and writes the numbers it
promises. Only the shape is checked; the numbers themselves are the benchmark's business, not a test's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = [sys.executable, "-m", "tools.bench", "--quick", "--latency-ms", "1", "--burst", "3"]

SINGLE_SCENARIOS = {"isolate_1eni_cold", "isolate_1eni", "isolate_3eni", "release_1eni"}
ISOLATION_KEYS = {
    "status",
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
    "failures",
    "isolated_afterwards",
}


def test_the_quick_bench_runs_and_writes_every_number_as_json(tmp_path: Path) -> None:
    # Given a smoke run (tiny burst, 1 ms latency: the shape, not the speed, is under test)
    out = tmp_path / "bench.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "PYTHONPATH": os.pathsep.join([str(ROOT / "lambda"), str(ROOT)]),
    }
    # When the bench runs
    done = subprocess.run(
        [*QUICK, "--json-out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Then it prints the table and writes the JSON with every promised number
    assert "time to network cut" in done.stdout
    results = json.loads(out.read_text())
    assert results["label"] == "before" and results["quick"] is True
    assert set(results["single"]) == SINGLE_SCENARIOS
    for name in SINGLE_SCENARIOS - {"release_1eni"}:
        scenario = results["single"][name]
        assert set(scenario) >= ISOLATION_KEYS, name
        assert scenario["status"] == "isolated"
        assert scenario["api_calls"] >= scenario["api_calls_mutating"] > 0
    assert results["single"]["isolate_3eni"]["enis"] == 3
    assert results["single"]["release_1eni"]["status"] == "released"
    burst = results["burst"]
    assert set(burst) >= BURST_KEYS
    assert burst["instances"] == 3
    assert burst["failures"] == 0
    assert burst["isolated_afterwards"] == 3
    assert {"zip_bytes", "handler_import_ms"} <= set(results["package"])
    assert "burst_1000_s" in results["throttle_bound"]
