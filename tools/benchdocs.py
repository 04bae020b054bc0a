"""The benchmark's figures in the docs: the Benchmark section of docs/failure-handling.md, between its
markers, is generated from docs/bench.json (the figures `make bench` writes), so that it cannot go stale:
the handler's figures, then the reconciler's (`tools/bench_reconcile.py`), each with the machine and the
run they were measured in.

    python -m tools.benchdocs           # regenerate the section from docs/bench.json
    python -m tools.benchdocs --check   # exit 1 when the section is not what docs/bench.json gives

`make bench` regenerates it itself after a full run; tests/test_bench.py fails when the committed section
and the committed figures differ.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
FIGURES: Final = ROOT / "docs" / "bench.json"
DOCS: Final = ROOT / "docs" / "failure-handling.md"
BEGIN: Final = "<!-- BEGIN_BENCH: generated from docs/bench.json by make bench (tools/benchdocs.py) -->"
END: Final = "<!-- END_BENCH -->"

#: the single-instance scenarios, as the tables name them
SCENARIOS: Final = (
    ("isolate_1eni", "1 ENI"),
    ("isolate_3eni", "3 ENIs"),
    ("isolate_1eni_cold", "1 ENI, first in the VPC"),
    ("isolate_1eni_cold_start", "1 ENI, first in its VPC, the environment's first invocation"),
)


def _s(milliseconds: float | None) -> str:
    return "-" if milliseconds is None else f"{milliseconds / 1000:.2f} s"


def _n(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{round(value * 100)} %"


def _para(text: str) -> str:
    """A paragraph, wrapped as the docs' hand-written ones are."""
    return textwrap.fill(text, width=105, break_long_words=False, break_on_hyphens=False)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _first_move(scenario: dict[str, Any] | None, latency_ms: float) -> str:
    if not scenario or scenario.get("round_trips_before_first_move") is None:
        return "-"
    trips = scenario["round_trips_before_first_move"]
    return f"{trips} ({trips * latency_ms:g} ms; {scenario['first_move_ms']:g} ms measured)"


def _phases(scenario: dict[str, Any]) -> str:
    keys = ("round_trips_before_wait", "round_trips_in_wait", "round_trips_after_wait_to_cut")
    return " / ".join(_n(scenario.get(k)) for k in keys)


def _calls(scenario: dict[str, Any]) -> str:
    return f"{scenario['api_calls']} ({scenario['api_calls_mutating']})"


def _one_instance(figures: dict[str, Any]) -> list[str]:
    after: dict[str, Any] = figures["single"]
    before: dict[str, Any] = (figures.get("before") or {}).get("single") or {}
    latency = figures["latency_ms"]
    ref = (figures.get("before") or {}).get("commit", "")[:7] or "-"
    lines = [
        f"| round trips before the first ENI move (ms at {latency:g} ms a call; measured) "
        f"| before (`{ref}`) | after |",
        "| --- | ---: | ---: |",
    ]
    for key, name in SCENARIOS:
        lines.append(
            f"| {name} | {_first_move(before.get(key), latency)} | {_first_move(after.get(key), latency)} |"
        )
    rows: tuple[tuple[str, Any], ...] = (
        ("time to the network cut, with the wait", lambda s: _s(s.get("cut_with_wait_ms"))),
        ("time to the cut, the wait not counted (a wait of 0)", lambda s: _s(s.get("cut_ms"))),
        ("time to completion, with the wait", lambda s: _s(s.get("completion_with_wait_ms"))),
        ("round trips to the cut: before the wait / inside it / after it", _phases),
        ("round trips in all", lambda s: _n(s.get("round_trips_total"))),
        ("API calls (of which mutating)", _calls),
    )
    columns = [(key, name, side) for key, name in SCENARIOS[:2] for side in ("before", "after")]
    lines += [
        "",
        f"| one instance, {latency:g} ms a request | "
        + " | ".join(f"{name} {side}" for _, name, side in columns)
        + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    for label, cell in rows:
        cells = []
        for key, _, side in columns:
            scenario = (before if side == "before" else after).get(key)
            cells.append(cell(scenario) if scenario else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    release = after.get("release_1eni")
    if release:
        lines.append(
            "| release of a 1-ENI instance: time, round trips, calls (mutating) | | | "
            f"{_s(release['completion_ms'])}, {release['round_trips_total']}, {_calls(release)} | |"
        )
    return lines


def _burst(figures: dict[str, Any]) -> list[str]:
    b = figures.get("burst")
    if not b:
        return ["No burst was run."]
    bound = figures["throttle_bound"]
    lines = [
        f"| burst ({b['instances']} tagged instances, {b['concurrency']} workers) | |",
        "| --- | ---: |",
        f"| completion | {b['completion_s']:g} s |",
        f"| invocation time, median / longest | {b['invocation_s_median']:g} s / "
        f"{b['invocation_s_max']:g} s |",
        f"| peak concurrency | {b['peak_concurrency']} |",
        f"| failed invocations (first attempt / after Lambda's retries) | {b['failed_first_attempt']} / "
        f"{b['failures']} |",
        f"| isolated afterwards | {b['isolated_afterwards']} / {b['instances']} |",
        f"| throttled attempts (of {b['attempts']}) | {b['throttled_attempts']} |",
        "| least time EC2's buckets allow for 1000 instances (busiest action) | "
        f"{bound['burst_1000_s']:g} s |",
        "",
    ]
    causes: dict[str, int] = b.get("first_attempt_failure_causes") or {}
    if causes:
        lines += [
            "Why first attempts failed (each failed step of each failed invocation, by cause; every one, "
            "with its message, is in `docs/bench.json`):",
            "",
            "| cause (step: error) | failed steps |",
            "| --- | ---: |",
            *(f"| {_cell(cause)} | {count} |" for cause, count in causes.items()),
            "",
        ]
    else:
        lines += ["No invocation failed its first attempt.", ""]
    errors: dict[str, int] = b.get("emulator_errors") or {}
    if errors:
        lines += [
            "The emulator's own errors during the burst (moto raised them and answered HTTP 500; botocore "
            "retries most such answers, and the ones it cannot parse fail the step), from its log:",
            "",
            "| moto's exception (where) | times |",
            "| --- | ---: |",
            *(f"| {_cell(error)} | {count} |" for error, count in errors.items()),
            "",
        ]
    return lines


def _machine(m: dict[str, Any]) -> str:
    return (
        f"{_n(m.get('cores'))} cores ({m.get('cpu', '-')}), {_n(m.get('memory_gib'))} GiB, "
        f"{m.get('platform', '-')}, Python {m.get('python', '-')}, moto {m.get('moto', '-')}, boto3 "
        f"{m.get('boto3', '-')} (botocore {m.get('botocore', '-')})"
    )


def _beyond_pages(steady: list[dict[str, Any]]) -> str:
    """The calls of a steady-state round that differ from its pages, e.g. ``ec2:Describe... 10 calls at
    1,000 instances where 5 would do``."""
    differences = [
        f"`{action}` made {s['calls_by_action'].get(action, 0)} calls at {s['instances']:,} instances where "
        f"{pages} would do"
        + (" (its answers came in smaller pages)" if s["calls_by_action"].get(action, 0) > pages else "")
        for s in steady
        for action, pages in sorted(s["calls_if_by_pages"].items())
        if s["calls_by_action"].get(action, 0) != pages
    ]
    return "; ".join(differences) or "-"


def _steady(r: dict[str, Any]) -> list[str]:
    steady: list[dict[str, Any]] = r.get("steady") or []
    if not steady:
        return ["No steady-state round was run.", ""]
    actions = sorted({a for s in steady for a in s["calls_by_action"]})
    lines = [
        "| steady-state round | " + " | ".join(f"{s['instances']:,} isolated" for s in steady) + " |",
        "| --- |" + " ---: |" * len(steady),
        "| the round: the schedule's event, the sweep message sent | "
        + " | ".join(_s(s["round_ms"]) for s in steady)
        + " |",
        "| the sweep | " + " | ".join(_s(s["sweep_ms"]) for s in steady) + " |",
        "| API calls | " + " | ".join(str(s["api_calls"]) for s in steady) + " |",
        *(
            f"| `{action}` | " + " | ".join(str(s["calls_by_action"].get(action, 0)) for s in steady) + " |"
            for action in actions
        ),
        "| mutating calls besides the round's sweep message | "
        + " | ".join(str(sum(s["mutating_calls"].values())) for s in steady)
        + " |",
        "| converges queued | " + " | ".join(str(s["converges_queued"]) for s in steady) + " |",
        "| the records (about, as JSON) | "
        + " | ".join(f"{round(s['record_table_bytes'] / 1024):,} KB" for s in steady)
        + " |",
        "",
    ]
    mutating = {s["instances"]: s["mutating_calls"] for s in steady if s["mutating_calls"]}
    per_extra = r.get("calls_per_extra_instance")
    smallest, largest = steady[0], steady[-1]
    text = (
        f"A round makes {smallest['api_calls']} calls over {smallest['instances']:,} isolated instances and "
        f"{largest['api_calls']} over {largest['instances']:,}: "
        + (
            f"{_n(per_extra)} calls per extra instance (goal: at most "
            f"{_n(r['calls_per_extra_instance_goal'])}; {'met' if r.get('within_goal') else 'not met'})"
            if per_extra is not None
            else "one size only, no calls per extra instance"
        )
        + ". "
        + (
            "They are the pages: the Scan's (1 MB each), the tagged instances' (1,000 a "
            "DescribeInstances), their profile associations' (200 ids a "
            "DescribeIamInstanceProfileAssociations) and Auto Scaling memberships' (50 ids a "
            "DescribeAutoScalingInstances), one read of the isolation groups, one of the target groups and "
            "one of each one's registrations in the VPC. "
            if r.get("calls_are_pages")
            else "They grow with pages (1 MB a Scan, 1,000 instances a DescribeInstances, 200 ids a "
            "DescribeIamInstanceProfileAssociations, 50 a DescribeAutoScalingInstances, one read of the "
            "isolation groups, of the target groups and of each one's registrations), but not all as those "
            f"limits allow: {_beyond_pages(steady)}. "
        )
        + (
            "Nothing but the round's sweep message is written (`SendMessageBatch`), and no converge is "
            "queued."
            if r.get("no_mutating_call") and r.get("nothing_queued")
            else f"It writes more than the sweep message: {json.dumps(mutating)}."
        )
    )
    return [*lines, text, ""]


def _catch_up(r: dict[str, Any]) -> list[str]:
    c = r.get("catch_up")
    if not c:
        return ["No catch-up was run.", ""]
    b = c["bound"]
    throttled: dict[str, int] = c.get("throttled_by_action") or {}
    lines = [
        f"| catch-up: {c['instances']} instances whose events were lost, {c['concurrency']} pollers | |",
        "| --- | ---: |",
        f"| from the schedule's event to the last converge | {c['total_s']:g} s |",
        f"| the round / the sweep ({c['converges_queued']} converges queued) | {_s(c['round_ms'])} / "
        f"{_s(c['sweep_ms'])} |",
        f"| a converge, median / longest | {_n(c['invocation_s_median'])} s / "
        f"{_n(c['invocation_s_max'])} s |",
        f"| API calls ({c['attempts']} attempts) | {c['api_calls']} |",
        f"| throttled attempts | {c['throttled_attempts']}"
        + (" (" + ", ".join(f"`{a}` {n}" for a, n in throttled.items()) + ")" if throttled else "")
        + " |",
        f"| failed messages: first receive / in the end (dead letters) | {c['failed_first_attempt']} / "
        f"{c['failures']} |",
        f"| isolated afterwards (ENIs on the isolation group) | {c['isolated_afterwards']} / "
        f"{c['instances']} |",
        f"| least time EC2's buckets allow (`{b['busiest_ec2_action'].split(':')[-1]}`, "
        f"{b['busiest_ec2_action_calls']} calls) | {_n(b['throttling_s'])} s |",
        f"| least time the pollers allow ({b['waves']} median converges one after the other) | "
        f"{_n(b['workers_s'])} s |",
        "",
    ]
    causes: dict[str, int] = c.get("first_attempt_failure_causes") or {}
    if causes:
        lines += [
            "Why messages failed their first receive (each failed step, by cause; every one is in "
            "`docs/bench.json`):",
            "",
            "| cause (step: error) | failed steps |",
            "| --- | ---: |",
            *(f"| {_cell(cause)} | {count} |" for cause, count in causes.items()),
            "",
        ]
    pollers = (b.get("workers_s") or 0) >= (b.get("throttling_s") or 0)
    lines += [
        f"The pollers are {c['concurrency']} ({c['concurrency_source']}), batch size 1; each converge reads "
        "the instance and its record again and runs the isolation, whose untrack wait "
        f"({r['untrack_wait_seconds']} s, slept) holds its poller: "
        + (
            f"the catch-up is bound by the pollers ({b['waves']} converges one after the other on each), "
            "not by EC2's buckets."
            if pollers
            else "the catch-up is bound by EC2's buckets, not by the pollers."
        )
        + f" A failed message is received again at once here (after the queue's visibility timeout in "
        f"Lambda), and goes to the dead letters after {c['max_receives']} receives.",
        "",
    ]
    return lines


def _reconciler(figures: dict[str, Any]) -> list[str]:
    r = figures.get("reconcile")
    if not r:
        return ["The reconciler was not measured."]
    s = r["settings"]
    return [
        f"**The reconciler** (`tools/bench_reconcile.py`), measured on {r['date']} on "
        f"{_machine(r['machine'])}: the function with the module's defaults (Auto Scaling "
        f"{s['auto_scaling_action']}, target groups deregistered, with {s['target_groups_in_vpc']} target "
        "group in the VPC so that their reads are made, termination protection, result events), "
        f"{r['latency_ms']:g} ms a request and the same EC2 buckets, each scenario on an emulator of its "
        "own. "
        "A steady state is isolated instances that have not changed since (one isolated by the handler, "
        "the others launched as it left that one, with their records as the handler writes them); its "
        "round is the schedule's event (the function scans the open records and sends one sweep message) "
        "and that message's sweep, delivered as the queue's event source mapping delivers it.",
        "",
        *_steady(r),
        *_catch_up(r),
    ]


_BY: Final = {
    "throttling": "EC2's simulated throttling",
    "workers": "the worker count",
    "emulator": "the emulator, moto, which answers every request in one Python process (one core at most)",
}


def _what_bounds(figures: dict[str, Any]) -> list[str]:
    bound = figures.get("burst_bound")
    b = figures.get("burst")
    if not bound or not b:
        return []
    alone = _s(figures["single"]["isolate_1eni"]["completion_with_wait_ms"])
    load = _n((bound.get("load_average_before") or [None])[0])
    text = (
        f"**What bounds the burst on this machine: {_BY[bound['by']]}.** The least time each would allow: "
        f"EC2's simulated buckets {_n(bound['throttling_s'])} s ({_share(bound['throttled_share'])} of the "
        f"attempts were throttled); {b['concurrency']} workers, each invocation as fast as one alone "
        f"({alone}), {_n(bound['workers_s'])} s; moto, which spent "
        f"{_n(bound.get('emulator_cpu_ms_per_attempt'))} ms of CPU on each of the {b['attempts']} attempts "
        f"and can use one core at most (the GIL), {_n(bound['emulator_s'])} s. The burst took "
        f"{bound['completion_s']:g} s ({_n(bound.get('attempts_per_s'))} attempts a second): moto used "
        f"{_n(bound.get('emulator_cpu_cores'))} of a core, the bench's process (the handler's threads) "
        f"{_n(bound.get('bench_cpu_cores'))}, and the machine's {_n(bound.get('cores'))} cores were "
        f"{_share(bound.get('machine_busy_share'))} busy"
        + (
            f", the rest taken by its other processes (the machine is shared: its load average was {load} "
            "when the burst began)"
            if bound.get("shared")
            else f" (load average {load} when the burst began)"
        )
        + f"; an attempt spent {_n(bound.get('emulator_ms_per_attempt'))} ms in the emulator beyond the "
        f"{figures['latency_ms']:g} ms latency, queued, against "
        f"{_n(bound.get('emulator_ms_per_attempt_alone'))} ms for one instance alone. On AWS neither the "
        "emulator nor the bench's cores are a limit: EC2's buckets are (below)."
    )
    return [text, ""]


def render(figures: dict[str, Any]) -> str:
    """The generated part of the Benchmark section."""
    m = figures.get("machine") or {}
    before = figures.get("before") or {}
    per_action: dict[str, int] = figures["throttle_bound"]["ec2_mutating_calls_per_isolation_by_action"]
    busiest = max(per_action.items(), key=lambda item: item[1], default=("-", 0))
    single = figures["single"]
    cold, warm = single.get("isolate_1eni_cold"), single.get("isolate_1eni")
    package = figures["package"]
    zip_bytes = package.get("zip_bytes")
    lines = [
        f"`make bench` (`tools/bench.py`) runs the real handler against a moto server with "
        f"{figures['latency_ms']:g} ms added to every request, EC2's token buckets for mutating calls "
        f"({figures['bucket_size']:g}, refilled at {figures['refill_rate']:g} a second, per action), the "
        f"{figures['untrack_wait_seconds']} s untrack wait simulated (not slept), one instance at a time and "
        "then a burst of tagged instances with Lambda-like workers. It prints these tables, writes every "
        "call's timeline to `build/bench.json`, and writes the figures to [`docs/bench.json`](bench.json), "
        "from which this section is generated (`tests/test_bench.py` fails when the two differ). A round "
        "trip is a request that waits for the one before it; calls made at the same time count once. "
        f'"Before" is the handler of commit `{before.get("commit", "-")[:7]}` (every step up to the '
        'transition move one after the other), measured in the same run; "after" is the handler of the '
        "tree the bench ran in (its order is the docstring of `lambda/ec2_isolation/isolation.py`): the "
        "reads at once, the record, then the transition move beside the Auto Scaling detach and the "
        "termination protection.",
        "",
        f"Measured on: {_machine(m)}; the machine is shared, and its load changes the times (not the round "
        "trips).",
        "",
        *_one_instance(figures),
        "",
    ]
    if (
        cold
        and warm
        and cold.get("round_trips_before_first_move")
        and warm.get("round_trips_before_first_move")
    ):
        extra = cold["round_trips_before_first_move"] - warm["round_trips_before_first_move"]
        lines += [
            f"The first isolation in a VPC creates the two security groups, at the same time: {extra} more "
            "round trips before the first move (the creations, then the new groups' rules: the isolation "
            "group's default egress rule read, revoked and read back, beside the transition group's rules "
            "read and opened). With the groups in place the move comes right after the record: the "
            "describe, the reads, the record; target groups in the VPC add one (their registrations).",
            "",
        ]
    lines += [*_burst(figures), *_what_bounds(figures)]
    lines.append(
        f"On AWS, 1000 tagged instances take at least {figures['throttle_bound']['burst_1000_s']:g} s "
        f"whatever the concurrency: EC2 allows {figures['bucket_size']:g} `{busiest[0]}` requests at once "
        f"and {figures['refill_rate']:g} a second after that, and each isolation makes {busiest[1]}."
        + (
            f" Package: a {round(zip_bytes / 1024)} KB zip ({zip_bytes:,} bytes, as `lambda/build.py` "
            "builds it from the sources the bench ran), with no dependency besides boto3"
            if zip_bytes
            else " Package: no zip was built"
        )
        + f"; importing the handler takes {package['handler_import_ms']:g} ms (boto3 "
        f"{package['boto3_import_ms']:g} ms of it)." + _package_run(package, m)
    )
    lines += ["", *_reconciler(figures)]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(line if not line or line.startswith("|") else _para(line) for line in lines)


def _package_run(package: dict[str, Any], machine: dict[str, Any]) -> str:
    """When the package was measured apart (``--package-only``, after a change to the handler's
    sources): when, and where if not on the machine of the rest."""
    if not package.get("date"):
        return ""
    where = "" if package.get("machine") == machine else f" on {_machine(package.get('machine') or {})}"
    return f" (The package figures are from {package['date']}{where}, measured apart from the rest.)"


def update(text: str, section: str) -> str:
    """``text`` with what is between the markers replaced by ``section``."""
    if BEGIN not in text or END not in text:
        raise SystemExit(f"the docs lack the {BEGIN} / {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{section}\n{END}{tail}"


def generated(text: str) -> str:
    """What is between the markers of ``text``."""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def write(figures_path: Path = FIGURES, docs_path: Path = DOCS) -> bool:
    """Regenerate the section of ``docs_path`` from ``figures_path``; True when it changed."""
    figures = json.loads(figures_path.read_text(encoding="utf-8"))
    text = docs_path.read_text(encoding="utf-8")
    new = update(text, render(figures))
    if new != text:
        docs_path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the section is stale")
    parser.add_argument("--figures", type=Path, default=FIGURES, help=f"(default {FIGURES})")
    parser.add_argument("--docs", type=Path, default=DOCS, help=f"(default {DOCS})")
    args = parser.parse_args(argv)
    if args.check:
        figures = json.loads(args.figures.read_text(encoding="utf-8"))
        text = args.docs.read_text(encoding="utf-8")
        if generated(text) != render(figures):
            print(
                f"{args.docs}: the Benchmark section is not what {args.figures} gives; "
                "run python -m tools.benchdocs"
            )
            return 1
        return 0
    changed = write(args.figures, args.docs)
    print(f"{args.docs}: {'regenerated' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
