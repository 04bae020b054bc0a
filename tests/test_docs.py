"""The README documents every input (with its default) and every output of the module."""

from __future__ import annotations

import re
from pathlib import Path

from tools import docs

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_tables_are_up_to_date() -> None:
    readme = (ROOT / "README.md").read_text()
    assert docs.update(readme, docs.render()) == readme, "README.md tables are stale: run `make docs`"


def test_every_variable_and_output_is_documented_with_a_description() -> None:
    inputs, outputs_table = docs.render().split("## Outputs")
    variables = re.findall(r'^variable "([^"]+)"', (ROOT / "variables.tf").read_text(), flags=re.M)
    outputs = re.findall(r'^output "([^"]+)"', (ROOT / "outputs.tf").read_text(), flags=re.M)
    assert variables and outputs
    for table, names in ((inputs, variables), (outputs_table, outputs)):
        for name in names:
            [row] = [line for line in table.splitlines() if line.startswith(f"| `{name}` |")]
            description = row.split(" | ")[1]
            assert len(description) > 10, f"{name} needs a description"


def test_defaults_are_rendered_as_terraform_values() -> None:
    tables = docs.render()
    assert "| `name` |" in tables and '`"ec2-isolation"`' in tables
    assert "`365`" in tables
    assert "`map(string)` | `{}` |" in tables


def test_a_changed_description_makes_the_check_fail(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert docs.update(readme, docs.render().replace("Name of the deployment", "Name")) != readme
