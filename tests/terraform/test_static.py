"""`terraform fmt`, `init` and `validate` of the module and examples/basic; the inputs' validation rules.

All offline: the provider comes from the local mirror and nothing talks to AWS.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.conftest import Workspace
from tools import tfcli

pytestmark = pytest.mark.terraform


def _validate(workspace: Workspace, directory: Path) -> dict[str, Any]:
    result = workspace.terraform(["validate", "-json"], directory.relative_to(workspace.root), check=False)
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_repository_is_terraform_fmt_clean(terraform_bin: str, terraform_env: dict[str, str]) -> None:
    """Given the repository, when `terraform fmt -check -recursive` runs on it, then it reports nothing."""
    result = tfcli.run_terraform(
        ["fmt", "-check", "-recursive", "-diff", str(tfcli.REPO_ROOT)],
        cwd=tfcli.REPO_ROOT,
        env=terraform_env,
        check=False,
    )

    assert result.returncode == 0, f"run `terraform fmt -recursive`:\n{result.stdout}{result.stderr}"


def test_fmt_check_catches_a_misformatted_file(
    tmp_path: Path, terraform_bin: str, terraform_env: dict[str, str]
) -> None:
    """Given a mis-aligned .tf file, when `terraform fmt -check -recursive` runs, then it fails and names it.

    (Proves the check above can fail.)
    """
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "bad.tf").write_text(
        'locals {\n  a = "x"\n  long_name = "y"\n}\n', encoding="utf-8"
    )

    result = tfcli.run_terraform(
        ["fmt", "-check", "-recursive", str(tmp_path)], cwd=tmp_path, env=terraform_env, check=False
    )

    assert result.returncode != 0
    assert "bad.tf" in result.stdout


def test_root_module_validates_without_warnings(workspace: Workspace, initialized_root: Path) -> None:
    """Given the root module initialised with only the AWS provider, when validated, then it is valid.

    No warnings either: a deprecated attribute or argument of the provider would show up here.
    """
    report = _validate(workspace, initialized_root)

    assert report["valid"] is True, report["diagnostics"]
    assert report["error_count"] == 0
    assert report["warning_count"] == 0, report["diagnostics"]


def test_root_module_requires_only_the_aws_provider(initialized_root: Path) -> None:
    """Given the initialised root module, then the lock file lists hashicorp/aws and nothing else."""
    lock = (initialized_root / ".terraform.lock.hcl").read_text(encoding="utf-8")

    assert re.findall(r'^provider "([^"]+)"', lock, flags=re.MULTILINE) == [tfcli.AWS_PROVIDER]


def test_root_module_has_no_provider_block(workspace: Workspace) -> None:
    """Given the module's own .tf files, then none configures a provider (callers do)."""
    sources = {path.name: path.read_text(encoding="utf-8") for path in workspace.root.glob("*.tf")}

    assert {"main.tf", "iam.tf", "variables.tf", "outputs.tf", "versions.tf"} <= set(sources)
    assert [
        name for name, text in sources.items() if re.search(r'^\s*provider\s+"', text, re.MULTILINE)
    ] == []


def test_example_validates_without_warnings(workspace: Workspace, initialized_example: Path) -> None:
    """Given examples/basic initialised, when validated, then it is valid without warnings."""
    report = _validate(workspace, initialized_example)

    assert report["valid"] is True, report["diagnostics"]
    assert report["warning_count"] == 0, report["diagnostics"]


# Each case: (variable, HCL value, accepted?). All are checked by one `terraform validate` of a
# configuration with one module call per case (validate evaluates the module's validation rules).
INPUT_CASES: list[tuple[str, str, bool]] = [
    ("name", '"a"', True),
    ("name", '"' + "n" * 40 + '"', True),
    ("name", '"' + "n" * 41 + '"', False),
    ("name", '""', False),
    ("name", '"has space"', False),
    ("name", '"dots.not.allowed"', False),
    ("isolation_tag_key", '"' + "k" * 96 + '"', True),
    ("isolation_tag_key", '"' + "k" * 97 + '"', False),
    ("isolation_tag_key", '"Security Isolation/IR-1@team"', True),
    ("isolation_tag_key", '"aws:isolate"', False),
    ("isolation_tag_key", '"AWS:isolate"', False),
    ("isolation_tag_key", '"no*wildcards"', False),
    ("isolation_tag_key", '""', False),
    ("isolation_tag_value", '"' + "v" * 256 + '"', True),
    ("isolation_tag_value", '"' + "v" * 257 + '"', False),
    ("isolation_tag_value", '""', False),
    ("isolation_security_group_name", '"isolation (no traffic)"', True),
    ("isolation_security_group_name", '"sg-isolation"', False),
    ("isolation_security_group_name", '""', False),
    ("log_retention_in_days", "0", True),
    ("log_retention_in_days", "3653", True),
    ("log_retention_in_days", "42", False),
    (
        "log_kms_key_arn",
        '"arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"',
        True,
    ),
    ("log_kms_key_arn", '"arn:aws:kms:us-east-1:123456789012:alias/logs"', False),
    ("log_kms_key_arn", '"1234abcd-12ab-34cd-56ef-1234567890ab"', False),
    ("log_level", '"WARNING"', True),
    ("log_level", '"info"', False),
    ("lambda_timeout", "10", True),
    ("lambda_timeout", "900", True),
    ("lambda_timeout", "9", False),
    ("lambda_timeout", "901", False),
    ("lambda_timeout", "30.5", False),
    ("lambda_memory_size", "128", True),
    ("lambda_memory_size", "10240", True),
    ("lambda_memory_size", "127", False),
    ("lambda_memory_size", "10241", False),
    ("lambda_architecture", '"x86_64"', True),
    ("lambda_architecture", '"arm"', False),
    ("iam_role_path", '"/security/incident-response/"', True),
    ("iam_role_path", '"security/"', False),
    ("iam_role_path", '"/security"', False),
    ("permissions_boundary_arn", '"arn:aws:iam::123456789012:policy/boundaries/ir"', True),
    ("permissions_boundary_arn", '"arn:aws:iam::aws:policy/PowerUserAccess"', True),
    ("permissions_boundary_arn", '"boundary"', False),
    ("tags", '{ Team = "ir" }', True),
    ("tags", '{ "aws:reserved" = "x" }', False),
    ("tags", "{ " + ", ".join(f't{i} = "v"' for i in range(50)) + " }", False),
]


def test_input_validation_rules(workspace: Workspace, initialized_root: Path) -> None:
    """Given one module call per input case, when validated, then exactly the invalid cases are rejected."""
    directory = workspace.root / "examples" / "input-validation-test"
    directory.mkdir()
    lines: list[str] = []
    case_lines: dict[int, int] = {}
    for index, (variable, value, _) in enumerate(INPUT_CASES):
        lines.append(f'module "case_{index}" {{')
        lines.append('  source = "../../"')
        lines.append(f"  {variable} = {value}")
        case_lines[len(lines)] = index
        lines.append("}")
    (directory / "main.tf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    workspace.init(directory.relative_to(workspace.root))

    report = _validate(workspace, directory)

    rejected: set[int] = set()
    for diagnostic in report["diagnostics"]:
        line = diagnostic.get("range", {}).get("start", {}).get("line")
        assert diagnostic["summary"] == "Invalid value for variable", diagnostic
        assert line in case_lines, diagnostic
        rejected.add(case_lines[line])
    wrongly = {
        f"{INPUT_CASES[i][0]} = {INPUT_CASES[i][1][:60]}": "rejected" if i in rejected else "accepted"
        for i in range(len(INPUT_CASES))
        if (i in rejected) == INPUT_CASES[i][2]
    }
    assert wrongly == {}
