"""`terraform test`: the .tftest.hcl suite that refuses a bad value of every validated input.

The suite (tests/terraform/tftest/variables.tftest.hcl) is Terraform's own test framework with a
mocked provider; this file runs it, checks that it covers every validation rule, and checks that it
fails when a rule is loosened.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.terraform.conftest import Workspace
from tools import tfcli

pytestmark = pytest.mark.terraform

SUITE_DIR = Path("tests") / "terraform" / "tftest"
SUITE = tfcli.REPO_ROOT / SUITE_DIR / "variables.tftest.hcl"


def run_suite(root: Path, env: dict[str, str]) -> tuple[int, str]:
    shutil.copytree(tfcli.REPO_ROOT / SUITE_DIR, root / SUITE_DIR, dirs_exist_ok=True)
    result = tfcli.run_terraform(
        ["test", f"-test-directory={SUITE_DIR}"], cwd=root, env=env, check=False, timeout=300
    )
    return result.returncode, result.stdout + result.stderr


def validations_per_variable(variables_tf: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    current = ""
    for line in variables_tf.splitlines():
        if match := re.match(r'^variable "([^"]+)"', line):
            current = match.group(1)
        elif re.match(r"^\s+validation \{", line):
            counts[current] += 1
    return counts


def test_the_suite_passes(workspace: Workspace, initialized_root: Path) -> None:
    code, output = run_suite(workspace.root, workspace.env)
    runs = len(re.findall(r'^run "', SUITE.read_text(), flags=re.M))
    assert code == 0, output
    assert f"Success! {runs} passed, 0 failed." in output


def test_every_validation_rule_has_a_run_that_breaks_it() -> None:
    expected = validations_per_variable((tfcli.REPO_ROOT / "variables.tf").read_text())
    covered = Counter(re.findall(r"expect_failures = \[var\.(\w+)\]", SUITE.read_text()))
    assert expected, "variables.tf has validation rules"
    for variable, rules in expected.items():
        assert covered[variable] >= rules, (
            f"{variable} has {rules} rules but {covered[variable]} failing runs"
        )


def block(text: str, header: str) -> str:
    """The top-level block of ``text`` that starts with the line ``header`` (braces balanced)."""
    start = text.index(header)
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0 and text[index] == "}":
            return text[start : index + 1] + "\n"
    raise AssertionError(f"unbalanced block {header!r}")


def test_the_suite_fails_when_a_rule_is_loosened(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> None:
    root = tfcli.copy_module_tree(tmp_path_factory.mktemp("loosened") / "module")
    variables = root / "variables.tf"
    text = variables.read_text()
    assert 'contains(["arm64", "x86_64"], var.lambda_architecture)' in text
    variables.write_text(
        text.replace(
            'contains(["arm64", "x86_64"], var.lambda_architecture)', 'var.lambda_architecture != ""'
        )
    )
    tfcli.run_terraform(["init", "-backend=false", "-input=false"], cwd=root, env=terraform_env)
    # The suite's own mocked provider and its run for that rule, as they are in the suite (the other
    # 60 runs plan the unchanged rules: test_the_suite_passes runs them)
    suite = SUITE.read_text()
    (root / SUITE_DIR).mkdir(parents=True)
    (root / SUITE_DIR / "loosened.tftest.hcl").write_text(
        block(suite, 'mock_provider "aws" {') + "\n" + block(suite, 'run "lambda_architecture_unknown" {')
    )
    result = tfcli.run_terraform(
        ["test", f"-test-directory={SUITE_DIR}"], cwd=root, env=terraform_env, check=False, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert 'run "lambda_architecture_unknown"... fail' in output
    assert "0 passed, 1 failed." in output
