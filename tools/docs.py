"""Render the README's inputs and outputs tables from variables.tf and outputs.tf.

python tools/docs.py          # rewrite the block between the markers in README.md
python tools/docs.py --check  # exit 1 when the README's tables are out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def _name(quoted: str) -> str:
    return quoted.strip('"')


def _string(value: Any) -> Any:
    """python-hcl2 keeps HCL string literals quoted; turn them back into Python values."""
    if isinstance(value, str) and value.startswith('"') and value.endswith('"'):
        return json.loads(value)
    return value


def _type(expression: Any) -> str:
    text = str(expression)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def _cell(text: str) -> str:
    # Markdown would take "<key>" for an HTML tag and "|" for a column break.
    return text.replace("|", "\\|").replace("<", "\\<").replace("\n", " ")


def _blocks(path: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    with path.open() as handle:
        parsed = hcl2.load(handle)
    return [(_name(name), body) for block in parsed.get(kind, []) for name, body in block.items()]


def render(root: Path = ROOT) -> str:
    lines = [
        "## Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "| --- | --- | --- | --- | :---: |",
    ]
    for name, body in _blocks(root / "variables.tf", "variable"):
        required = "default" not in body
        default = "n/a" if required else f"`{json.dumps(_string(body['default']))}`"
        description = _cell(_string(body.get("description", "")))
        lines.append(
            f"| `{name}` | {description} | `{_type(body.get('type', 'any'))}` | {default} | "
            f"{'yes' if required else 'no'} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "| --- | --- |"]
    for name, body in _blocks(root / "outputs.tf", "output"):
        lines.append(f"| `{name}` | {_cell(_string(body.get('description', '')))} |")
    return "\n".join(lines)


def update(readme: str, tables: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {BEGIN} / {END} markers")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{tables}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the README's inputs and outputs tables")
    parser.add_argument("--check", action="store_true", help="fail when README.md is out of date")
    args = parser.parse_args(argv)
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    fresh = update(readme, render())
    if args.check:
        if fresh != readme:
            print("README.md inputs/outputs tables are out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
