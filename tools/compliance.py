"""Run the terraform-compliance features of `tests/compliance` against Terraform plans.

`make compliance` runs this script:

- with ``--plan PLAN.json`` (``make compliance PLAN=plan.json``): against that plan, the output of
  ``terraform show -json`` of a saved plan of the user's own configuration;
- without: against an offline plan (`tools.tfcli.offline_plan`: fake credentials, provider from the
  local mirror, STS answered locally) of every example under ``examples/``, made in a temporary copy of
  the module, and written as JSON into a temporary directory.

It fails (exit 1) when a scenario fails, and also when terraform-compliance ran no scenario or did not
write its report: terraform-compliance exits 0 on some errors (a feature file it cannot parse), so its
exit code alone is not trusted.

The scenario tagged ``@log_kms_key_given`` (log group encrypted with a KMS key) runs only when the plan's
configuration gives a module call a ``log_kms_key_arn`` (see `kms_key_given`); ``--log-kms-key`` overrides
that decision.

Command line (from the repository root, with the development virtualenv):

    python -m tools.compliance [--terraform-compliance BIN] [--plan PLAN.json ...] [--features DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tools import tfcli

REPO_ROOT: Final = tfcli.REPO_ROOT
FEATURES_DIR: Final = REPO_ROOT / "tests" / "compliance"
EXAMPLES_DIR: Final = REPO_ROOT / "examples"

KMS_TAG: Final = "log_kms_key_given"
"""Tag (without "@") of the scenario that requires a KMS key on the log group."""
KMS_INPUT: Final = "log_kms_key_arn"
"""The module input whose presence in the plan's configuration means "a KMS key is given"."""

PASSED: Final = "passed"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"


class ComplianceError(RuntimeError):
    """terraform-compliance could not be run, or a plan file is not a JSON plan."""


# --------------------------------------------------------------------------------------------------
# Is a KMS key given?
# --------------------------------------------------------------------------------------------------


def _module_call_inputs(module: Mapping[str, Any], name: str, depth: int = 0) -> Iterator[tuple[int, Any]]:
    """``(depth, expression)`` of input ``name`` of every module call under ``module``, at any depth."""
    for call in (module.get("module_calls") or {}).values():
        expressions = call.get("expressions") or {}
        if name in expressions:
            yield depth, expressions[name]
        yield from _module_call_inputs(call.get("module") or {}, name, depth + 1)


def _expression_gives_a_value(expression: Any, root_variables: Mapping[str, Any] | None) -> bool:
    """Whether a module-call input expression of a plan's configuration sets a (non-null) value.

    A constant gives a value unless it is null. An expression with references gives one, except when
    it only references variables of the root module (``root_variables``, the plan's ``variables``) whose
    values are all null. References that cannot be resolved from the plan count as a value.
    """
    if not isinstance(expression, Mapping):
        return False
    if "constant_value" in expression:
        return expression["constant_value"] is not None
    references = [str(reference) for reference in expression.get("references") or []]
    if not references:
        return False
    if root_variables is None or not all(reference.startswith("var.") for reference in references):
        return True
    names = {reference.removeprefix("var.").split(".")[0].split("[")[0] for reference in references}
    return any((root_variables.get(name) or {}).get("value") is not None for name in names)


def kms_key_given(plan: Mapping[str, Any], module_input: str = KMS_INPUT) -> bool:
    """Whether the plan's configuration gives a module call a KMS key for its log group.

    True when some module call, at any depth, sets ``log_kms_key_arn`` to a non-null constant or to an
    expression (a resource attribute, a variable...); a root-level call's input that only references
    root variables is resolved against the plan's variable values.
    """
    root = (plan.get("configuration") or {}).get("root_module") or {}
    variables = plan.get("variables") or {}
    return any(
        _expression_gives_a_value(expression, variables if depth == 0 else None)
        for depth, expression in _module_call_inputs(root, module_input)
    )


# --------------------------------------------------------------------------------------------------
# Running terraform-compliance
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One scenario (or one example row of a scenario outline) as terraform-compliance ran it."""

    feature: str
    """File name of the feature, e.g. ``log_retention.feature``."""
    name: str
    status: str
    """`PASSED`, `FAILED` or `SKIPPED` (a Given/When step found nothing to check)."""


@dataclass(frozen=True)
class ComplianceRun:
    """The result of running the features against one plan."""

    plan: Path
    command: list[str]
    returncode: int
    output: str
    scenarios: list[Scenario]
    excluded_tags: list[str] = field(default_factory=list)
    report_error: str | None = None
    """Why the run's cucumber JSON report could not be read, when it could not."""

    def count(self, status: str) -> int:
        return sum(scenario.status == status for scenario in self.scenarios)

    @property
    def failed_features(self) -> set[str]:
        """File names of the features with at least one failed scenario."""
        return {scenario.feature for scenario in self.scenarios if scenario.status == FAILED}

    @property
    def ok(self) -> bool:
        """Exit code 0, a readable report with at least one scenario, and no failed scenario."""
        return (
            self.returncode == 0
            and self.report_error is None
            and bool(self.scenarios)
            and self.count(FAILED) == 0
        )

    def summary(self) -> str:
        text = (
            f"{self.plan}: {self.count(PASSED)} passed, {self.count(FAILED)} failed, "
            f"{self.count(SKIPPED)} skipped (exit code {self.returncode})"
        )
        if self.excluded_tags:
            text += "; not run: " + ", ".join(f"@{tag}" for tag in self.excluded_tags)
        if self.report_error:
            text += f"; {self.report_error}"
        if self.failed_features:
            text += "; failed: " + ", ".join(sorted(self.failed_features))
        return text


def _scenario_status(steps: Sequence[Mapping[str, Any]]) -> str:
    statuses = [str((step.get("result") or {}).get("status", "")) for step in steps]
    if FAILED in statuses:
        return FAILED
    if statuses and all(status == PASSED for status in statuses):
        return PASSED
    return SKIPPED


def read_cucumber_report(path: Path) -> list[Scenario]:
    """The scenarios of a radish ``--cucumber-json`` report."""
    report = json.loads(path.read_text(encoding="utf-8"))
    return [
        Scenario(
            feature=Path(str(feature.get("uri", "?"))).name,
            name=str(element.get("name", "")),
            status=_scenario_status(element.get("steps") or []),
        )
        for feature in report
        for element in feature.get("elements") or []
    ]


def load_plan(path: Path) -> dict[str, Any]:
    """A ``terraform show -json`` plan; `ComplianceError` when ``path`` is not one."""
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ComplianceError(
            f"{path} is not a JSON plan ({error}). Write one with: "
            "terraform plan -out=plan.tfplan && terraform show -json plan.tfplan > plan.json"
        ) from error
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise ComplianceError(f"{path} is not the output of `terraform show -json` (no format_version)")
    return plan


def write_plan(plan: Mapping[str, Any], path: Path) -> Path:
    """Write ``plan`` as JSON on a single line, as terraform-compliance needs it.

    (terraform-compliance reads a multi-line file's *second line* as the plan, and rewrites the file.)
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def run_features(
    plan_path: Path,
    terraform_compliance: Path | str,
    *,
    features: Path = FEATURES_DIR,
    workdir: Path | None = None,
    log_kms_key: bool | None = None,
    timeout: float = 300,
) -> ComplianceRun:
    """Run terraform-compliance with the ``features`` against the JSON plan at ``plan_path``.

    The plan is read, then written as a single-line copy into ``workdir`` (a new temporary directory
    by default) for terraform-compliance, which never sees or rewrites the caller's file. The
    ``@log_kms_key_given`` scenario runs when ``log_kms_key`` is true; None decides with `kms_key_given`.
    """
    plan = load_plan(plan_path)
    if log_kms_key is None:
        log_kms_key = kms_key_given(plan)
    workdir = Path(tempfile.mkdtemp(prefix="compliance-")) if workdir is None else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    plan_copy = write_plan(plan, workdir / "plan.json")
    report = workdir / "cucumber.json"
    report.unlink(missing_ok=True)
    excluded = [] if log_kms_key else [KMS_TAG]
    tool = str(terraform_compliance)
    if os.sep in tool:  # a path: make it independent of the working directory of the run
        tool = str(Path(tool).resolve())
    command = [
        tool,
        "--features",
        str(features),
        "--planfile",
        str(plan_copy),
        "--no-ansi",
        f"--cucumber-json={report}",
    ]
    if excluded:
        command.append("--tags=" + " and ".join(f"not {tag}" for tag in excluded))
    env = dict(os.environ)
    env.setdefault("TERM", "dumb")
    try:
        result = subprocess.run(  # noqa: S603 - argument list, no shell
            command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as error:
        raise ComplianceError(
            f"{terraform_compliance} not found: `make .venv-compliance/.installed` installs it"
        ) from error
    output = result.stdout + result.stderr
    scenarios: list[Scenario] = []
    report_error = None
    try:
        scenarios = read_cucumber_report(report)
    except (OSError, json.JSONDecodeError) as error:
        report_error = f"no readable cucumber report ({error.__class__.__name__}: {error})"
    if "FATAL ERROR" in output and report_error is None:
        report_error = "terraform-compliance reported a FATAL ERROR"
    return ComplianceRun(
        plan=plan_path,
        command=command,
        returncode=result.returncode,
        output=output,
        scenarios=scenarios,
        excluded_tags=excluded,
        report_error=report_error,
    )


# --------------------------------------------------------------------------------------------------
# Offline plans of the examples
# --------------------------------------------------------------------------------------------------


def example_dirs(examples: Path = EXAMPLES_DIR) -> list[Path]:
    """The examples: directories right under ``examples/`` holding ``.tf`` files."""
    return sorted(path for path in examples.iterdir() if path.is_dir() and any(path.glob("*.tf")))


@dataclass(frozen=True)
class Workspace:
    """A temporary copy of the module (examples included) and a terraform environment for it."""

    root: Path
    env: dict[str, str]

    @classmethod
    def create(cls, directory: Path) -> Workspace:
        env = tfcli.terraform_env(directory / "terraform-cli")
        return cls(tfcli.copy_module_tree(directory / "module"), env)

    def plan(self, relative_dir: Path | str, destination: Path) -> Path:
        """Plan the configuration at ``relative_dir`` of the copy offline; write its JSON plan."""
        result = tfcli.offline_plan(self.root / relative_dir, self.env, module_root=self.root)
        return write_plan(result.plan, destination)


def plan_examples(directory: Path) -> dict[str, Path]:
    """Plan every example offline in a copy of the module under ``directory``.

    Returns the JSON plan of each example by name, written to ``<directory>/plans/<name>.json``.
    """
    workspace = Workspace.create(directory)
    return {
        example.name: workspace.plan(
            example.relative_to(REPO_ROOT), directory / "plans" / f"{example.name}.json"
        )
        for example in example_dirs(EXAMPLES_DIR)
    }


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="compliance.py",
        description="Run the terraform-compliance features against JSON plans (default: every example).",
    )
    parser.add_argument(
        "--terraform-compliance",
        default=str(REPO_ROOT / ".venv-compliance" / "bin" / "terraform-compliance"),
        help="terraform-compliance executable (default: the one of .venv-compliance)",
    )
    parser.add_argument("--features", type=Path, default=FEATURES_DIR, help="directory of .feature files")
    parser.add_argument(
        "--plan",
        type=Path,
        action="append",
        default=[],
        help="`terraform show -json` output to check (repeatable); without it, every example is planned",
    )
    parser.add_argument(
        "--keep-plans",
        type=Path,
        default=None,
        help="when planning every example: also write each JSON plan to DIR/<example>.json (kept)",
    )
    parser.add_argument(
        "--log-kms-key",
        choices=["auto", "given", "not-given"],
        default="auto",
        help="run the @log_kms_key_given scenario: auto (when the plan gives log_kms_key_arn), or force",
    )
    args = parser.parse_args(argv)
    log_kms_key = {"auto": None, "given": True, "not-given": False}[args.log_kms_key]

    with tempfile.TemporaryDirectory(prefix="ec2-isolation-compliance-") as tmp:
        workdir = Path(tmp)
        try:
            if args.plan:
                plans = {str(path): path for path in args.plan}
            else:
                print(f"Planning every example offline in {workdir} ...", flush=True)
                planned = plan_examples(workdir)
                if args.keep_plans is not None:
                    args.keep_plans.mkdir(parents=True, exist_ok=True)
                    for name, path in planned.items():
                        shutil.copyfile(path, args.keep_plans / f"{name}.json")
                plans = {f"examples/{name}": path for name, path in planned.items()}
            runs = [
                run_features(
                    path,
                    args.terraform_compliance,
                    features=args.features,
                    workdir=workdir / "runs" / str(index),
                    log_kms_key=log_kms_key,
                )
                for index, path in enumerate(plans.values())
            ]
        except (ComplianceError, tfcli.TerraformError) as error:
            print(f"compliance: {error}", file=sys.stderr)
            return 1
        for name, run in zip(plans, runs, strict=True):
            print(f"\n===== {name} =====\n{run.output}")
        print("\nSummary:")
        for name, run in zip(plans, runs, strict=True):
            print(f"  {'OK  ' if run.ok else 'FAIL'} {run.summary().replace(str(run.plan), name, 1)}")
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
