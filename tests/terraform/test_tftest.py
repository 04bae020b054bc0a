"""`terraform test`: the .tftest.hcl suite that refuses a bad value of every validated input.

The suite (tests/terraform/tftest/variables.tftest.hcl) is Terraform's own test framework with a
mocked provider; this file runs it, checks that it covers every validation rule, and checks that it
fails when a rule is loosened.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
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


def expected_variable_failures(suite: str) -> Counter[str]:
    """How many runs of ``suite`` expect each variable's validation to fail (``expect_failures`` lists,
    on one line or several)."""
    counts: Counter[str] = Counter()
    for listed in re.findall(r"expect_failures = \[(.*?)\]", suite, flags=re.S):
        counts.update(set(re.findall(r"\bvar\.(\w+)", listed)))
    return counts


def validation_rules(variables_tf: str) -> Iterator[tuple[str, str]]:
    """(variable, the body of one of its validation blocks) for every rule of ``variables_tf``."""
    for block in re.split(r'(?m)^variable "', variables_tf)[1:]:
        name = block.split('"', 1)[0]
        for rule in re.findall(r"validation \{(.*?)\n  \}", block, flags=re.S):
            yield name, rule


def validations_reading_other_variables(variables_tf: str) -> dict[str, set[str]]:
    """The variables whose validation conditions read other variables, with those variables."""
    found: dict[str, set[str]] = {}
    for name, rule in validation_rules(variables_tf):
        if others := set(re.findall(r"\bvar\.(\w+)", rule)) - {name}:
            found.setdefault(name, set()).update(others)
    return found


def validations_per_variable(variables_tf: str) -> Counter[str]:
    return Counter(name for name, _ in validation_rules(variables_tf))


def test_the_suite_passes(workspace: Workspace, initialized_root: Path) -> None:
    code, output = run_suite(workspace.root, workspace.env)
    runs = len(re.findall(r'^run "', SUITE.read_text(), flags=re.M))
    assert code == 0, output
    assert f"Success! {runs} passed, 0 failed." in output


def test_every_validation_rule_has_a_run_that_breaks_it() -> None:
    expected = validations_per_variable((tfcli.REPO_ROOT / "variables.tf").read_text())
    covered = expected_variable_failures(SUITE.read_text())
    assert expected, "variables.tf has validation rules"
    for variable, rules in expected.items():
        assert covered[variable] >= rules, (
            f"{variable} has {rules} rules but {covered[variable]} failing runs"
        )


def test_each_validation_reads_only_its_own_variable() -> None:
    """What lets the suite plan many refused values together: no input's rule depends on another input,
    so each expected failure is that input's own."""
    variables_tf = (tfcli.REPO_ROOT / "variables.tf").read_text()
    assert validations_per_variable(variables_tf), "variables.tf has validation rules"
    assert validations_reading_other_variables(variables_tf) == {}


def test_a_rule_that_reads_another_variable_is_found() -> None:
    variables_tf = (
        'variable "a" {\n  type = number\n\n  validation {\n    condition     = var.a < var.b\n'
        '    error_message = "a below b."\n  }\n}\n\nvariable "b" {\n  type = number\n\n'
        '  validation {\n    condition     = var.b > 0\n    error_message = "positive."\n  }\n}\n'
    )
    assert validations_reading_other_variables(variables_tf) == {"a": {"b"}}
    suite = "expect_failures = [\n  var.a,\n  var.b,\n]\nexpect_failures = [var.a]"
    assert expected_variable_failures(suite) == {"a": 2, "b": 1}


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
    # The suite's own mocked provider and its run that refuses that rule's value, as they are in the suite
    # (the other runs plan the unchanged rules: test_the_suite_passes runs them)
    suite = SUITE.read_text()
    run = block(suite, 'run "refused_values_first" {')
    assert "var.lambda_architecture," in run
    (root / SUITE_DIR).mkdir(parents=True)
    (root / SUITE_DIR / "loosened.tftest.hcl").write_text(block(suite, 'mock_provider "aws" {') + "\n" + run)
    result = tfcli.run_terraform(
        ["test", f"-test-directory={SUITE_DIR}"], cwd=root, env=terraform_env, check=False, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert 'run "refused_values_first"... fail' in output
    # and what it says is missing is that rule's failure alone: the other values of the run still fail
    missing = re.findall(
        r"checkable object, (\S+), was expected to report an error", " ".join(output.split())
    )
    assert missing == ["var.lambda_architecture"], output
    assert "0 passed, 1 failed." in output
