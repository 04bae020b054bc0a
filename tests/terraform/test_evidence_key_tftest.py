"""`terraform test` of modules/evidence-key: its suite (modules/evidence-key/tests/key.tftest.hcl,
planned offline) passes: the key rotated, kept 30 days once scheduled for deletion, tagged and aliased;
its policy: the account administers the key, each user may have EC2 use it for copies only."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.terraform.conftest import Workspace
from tools import tfcli

pytestmark = pytest.mark.terraform

EVIDENCE_KEY = Path("modules") / "evidence-key"
SUITE = tfcli.REPO_ROOT / EVIDENCE_KEY / "tests" / "key.tftest.hcl"


def test_the_evidence_key_suite_passes(workspace: Workspace) -> None:
    """Given modules/evidence-key initialised, when its suite runs, then every run passes."""
    shutil.copytree(
        tfcli.REPO_ROOT / EVIDENCE_KEY / "tests", workspace.root / EVIDENCE_KEY / "tests", dirs_exist_ok=True
    )
    workspace.init(EVIDENCE_KEY)
    result = workspace.terraform(["test"], EVIDENCE_KEY, check=False)
    runs = len(re.findall(r'^run "', SUITE.read_text(), flags=re.M))

    assert runs >= 4
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Success! {runs} passed, 0 failed." in result.stdout
