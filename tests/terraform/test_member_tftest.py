"""`terraform test` of modules/member: its suite (modules/member/tests/variables.tftest.hcl, mocked
provider) passes, and it has a run that breaks each validation rule of modules/member/variables.tf."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.terraform.conftest import Workspace
from tests.terraform.test_tftest import (
    expected_variable_failures,
    validations_per_variable,
    validations_reading_other_variables,
)
from tools import tfcli

pytestmark = pytest.mark.terraform

MEMBER = Path("modules") / "member"
SUITE = tfcli.REPO_ROOT / MEMBER / "tests" / "variables.tftest.hcl"


def test_the_member_suite_passes(workspace: Workspace) -> None:
    """Given modules/member initialised, when its suite runs, then every run passes."""
    shutil.copytree(tfcli.REPO_ROOT / MEMBER / "tests", workspace.root / MEMBER / "tests", dirs_exist_ok=True)
    workspace.init(MEMBER)
    result = workspace.terraform(["test"], MEMBER, check=False)
    runs = len(re.findall(r'^run "', SUITE.read_text(), flags=re.M))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Success! {runs} passed, 0 failed." in result.stdout


def test_every_member_validation_rule_has_a_run_that_breaks_it() -> None:
    expected = validations_per_variable((tfcli.REPO_ROOT / MEMBER / "variables.tf").read_text())
    covered = expected_variable_failures(SUITE.read_text())
    assert expected, "modules/member/variables.tf has validation rules"
    for variable, rules in expected.items():
        assert covered[variable] >= rules, (
            f"{variable} has {rules} rules but {covered[variable]} failing runs"
        )


def test_each_member_validation_reads_only_its_own_variable() -> None:
    """What lets the suite plan many refused values together (as the module's suite does)."""
    variables_tf = (tfcli.REPO_ROOT / MEMBER / "variables.tf").read_text()
    assert validations_per_variable(variables_tf)
    assert validations_reading_other_variables(variables_tf) == {}
