"""checkov over the module and its examples: no failed check, every skip inline with a reason, offline.

checkov runs from its own virtualenv (.venv-checkov, created by its Makefile rule when missing), with the
flags and environment of `tools.security_scan` (no network, no platform, no update check).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import security_scan, tfcli

pytestmark = pytest.mark.terraform

REPO_ROOT = security_scan.REPO_ROOT


@pytest.fixture(scope="session")
def repository_report(checkov_bin: Path) -> security_scan.CheckovReport:
    return security_scan.run_checkov(REPO_ROOT, checkov_bin)


def test_checkov_reports_no_failed_check(repository_report: security_scan.CheckovReport) -> None:
    report = repository_report
    failed = [f"{check['check_id']} {check['resource']} ({check['file_path']})" for check in report.failed]

    assert report.returncode == 0, f"failed checks: {failed}\n{report.stderr}"
    assert failed == []
    assert report.summary["failed"] == 0
    assert report.summary["parsing_errors"] == 0
    assert report.summary["passed"] > 0
    # The scan saw the module's resources (through examples/basic, which calls it).
    assert {check["resource"] for check in report.passed} >= {
        "module.ec2_isolation.aws_lambda_function.this",
        "module.ec2_isolation.aws_lambda_permission.events",
        "module.ec2_isolation.aws_cloudwatch_log_group.this",
        "module.ec2_isolation.aws_iam_role_policy.lambda",
    }


def test_every_skip_is_inline_with_a_reason_and_used(repository_report: security_scan.CheckovReport) -> None:
    """Every skip is a `#checkov:skip=CKV_...:reason` comment in a .tf file, and every such comment
    suppresses a check that would otherwise run (no stale skip)."""
    skips = security_scan.inline_skips(REPO_ROOT)
    reported = {
        (check["check_id"], check["check_result"]["suppress_comment"].strip())
        for check in repository_report.skipped
    }

    assert skips, "the module has inline skips; finding none means the scan of comments is broken"
    assert security_scan.skips_without_reason(skips) == []
    assert {(skip.check_id, skip.reason) for skip in skips} == reported


def test_a_skip_without_a_reason_is_reported(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "aws_lambda_function" "f" {\n'
        "  #checkov:skip=CKV_AWS_50\n"
        "  #checkov:skip=CKV_AWS_116:\n"
        "  #checkov:skip=CKV_AWS_117:Not in a VPC: it only calls AWS APIs.\n"
        "}\n",
        encoding="utf-8",
    )

    skips = security_scan.inline_skips(tmp_path)

    assert [(skip.check_id, skip.line) for skip in skips] == [
        ("CKV_AWS_50", 2),
        ("CKV_AWS_116", 3),
        ("CKV_AWS_117", 4),
    ]
    assert [skip.check_id for skip in security_scan.skips_without_reason(skips)] == [
        "CKV_AWS_50",
        "CKV_AWS_116",
    ]


def module_with_the_basic_example(tmp_path: Path) -> Path:
    """A copy of the module with examples/basic alone: the mutations below are in the module's own files,
    which the scan reads as they are and through examples/basic's module call; the other examples would
    add only time (half the scan's)."""
    copy = tfcli.copy_module_tree(tmp_path / "module")
    for example in (copy / "examples").iterdir():
        if example.name != "basic":
            shutil.rmtree(example)
    assert (copy / "examples" / "basic" / "main.tf").is_file()
    return copy


def test_checkov_fails_when_the_log_retention_is_removed(checkov_bin: Path, tmp_path: Path) -> None:
    """Given a copy of the module whose log group has no retention_in_days, then checkov fails."""
    copy = module_with_the_basic_example(tmp_path)
    main_tf = copy / "main.tf"
    text = main_tf.read_text(encoding="utf-8")
    without_retention = re.sub(r"^\s*retention_in_days\s*=.*\n", "", text, flags=re.MULTILINE)
    assert without_retention != text
    main_tf.write_text(without_retention, encoding="utf-8")

    report = security_scan.run_checkov(copy, checkov_bin)

    assert report.returncode != 0
    failed = {(check["check_id"], check["resource"]) for check in report.failed}
    assert ("CKV_AWS_66", "module.ec2_isolation.aws_cloudwatch_log_group.this") in failed
    assert ("CKV_AWS_338", "module.ec2_isolation.aws_cloudwatch_log_group.this") in failed


def test_checkov_fails_when_a_skip_is_removed(checkov_bin: Path, tmp_path: Path) -> None:
    """Given a copy of the module without one of its inline skips, then that check fails again."""
    copy = module_with_the_basic_example(tmp_path)
    main_tf = copy / "main.tf"
    text = main_tf.read_text(encoding="utf-8")
    main_tf.write_text(
        re.sub(r"^\s*#checkov:skip=CKV_AWS_50:.*\n", "", text, flags=re.MULTILINE), encoding="utf-8"
    )

    report = security_scan.run_checkov(copy, checkov_bin)

    assert report.returncode != 0
    assert {check["check_id"] for check in report.failed} == {"CKV_AWS_50"}


def test_checkov_runs_offline() -> None:
    """No API key or platform URL reaches checkov, and the update check and downloads are off."""
    env = security_scan.checkov_env({"BC_API_KEY": "secret", "PRISMA_API_URL": "https://x", "PATH": "/bin"})
    command = security_scan.checkov_command("checkov")

    assert "BC_API_KEY" not in env
    assert "PRISMA_API_URL" not in env
    assert env["CKV_SKIP_PACKAGE_UPDATE_CHECK"] == "true"
    assert env["BC_SKIP_MAPPING"] == "TRUE"
    assert "--skip-download" in command
    assert command[command.index("--download-external-modules") + 1] == "false"


def test_make_checkov_passes(checkov_bin: Path) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "checkov"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout
    assert "each with a reason" in result.stdout


def test_the_scan_refuses_a_skip_without_a_reason(checkov_bin: Path, tmp_path: Path) -> None:
    """`python -m tools.security_scan DIR` (what `make checkov` runs) refuses a skip without a reason."""
    copy = tfcli.copy_module_tree(tmp_path / "module")
    main_tf = copy / "main.tf"
    main_tf.write_text(
        re.sub(r"(#checkov:skip=CKV_AWS_50):.*", r"\1", main_tf.read_text(encoding="utf-8")), encoding="utf-8"
    )

    result = subprocess.run(
        [sys.executable, "-m", "tools.security_scan", "--checkov", str(checkov_bin), str(copy)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "CKV_AWS_50: (no reason)" in result.stdout
