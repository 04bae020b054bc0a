"""Render the README's inputs and outputs tables from variables.tf and outputs.tf, and check the
relative links of the repository's Markdown files.

python tools/docs.py          # rewrite the block between the markers in README.md
python tools/docs.py --check  # exit 1 when the README's tables are out of date
python tools/docs.py --links  # exit 1 when a relative link of a Markdown file leads nowhere
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

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


# Markdown, as GitHub renders it: enough of it to find headings and links outside code.

# Directories never searched for Markdown: virtualenvs, Terraform working directories, caches, build output.
SKIPPED_DIRECTORIES = {"build", "dist", "node_modules", "__pycache__"}
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)")
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$", re.M)
_EXPLICIT_ANCHOR = re.compile(r"""<a\s[^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.I)
# [text](target "title") and ![alt](target): the text may hold one level of brackets and line breaks.
_INLINE_LINK = re.compile(
    r"""!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s<>]*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)"""
)
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*<?([^\s>]+)>?", re.M)
_SCHEME = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")
_LINE_ANCHOR = re.compile(r"^L\d+(?:-L\d+)?$")


def markdown_files(root: Path = ROOT) -> list[Path]:
    """Every Markdown file of the repository, outside hidden directories (.git, .venv*, .terraform,
    caches) and build output."""
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(
            name for name in subdirectories if not name.startswith(".") and name not in SKIPPED_DIRECTORIES
        )
        found += [Path(directory) / name for name in sorted(files) if name.endswith(".md")]
    return found


def without_fences(text: str) -> str:
    """The text with every fenced code block (fences included) blanked, line numbers kept."""
    lines = text.split("\n")
    fence: str | None = None
    for number, line in enumerate(lines):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            lines[number] = ""
        elif fence is not None:
            lines[number] = ""
            closing = _FENCE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                # A closing fence is the fence characters alone (an info string opens, never closes).
                fence = None if not line.strip().lstrip(fence[0]) else fence
    return "\n".join(lines)


def without_code(text: str) -> str:
    """The text with fenced code blocks and inline code spans blanked (offsets and line numbers kept):
    a link inside code is no link."""
    return _CODE_SPAN.sub(lambda span: " " * len(span.group(0)), without_fences(text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading, before de-duplication: the rendered text (link targets and
    HTML tags dropped), lowercased, without the characters that are not letters, digits, spaces, hyphens
    or underscores, each space a hyphen."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]*>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor of a Markdown text: its headings' (duplicates get -1, -2, ...) and its explicit
    <a id="..."> / <a name="...">."""
    prose = without_fences(text)
    found: set[str] = set()
    seen: Counter[str] = Counter()
    for match in _HEADING.finditer(prose):
        base = slug(match.group(1) or "")
        found.add(base if not seen[base] else f"{base}-{seen[base]}")
        seen[base] += 1
    found.update(_EXPLICIT_ANCHOR.findall(prose))
    return found


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str

    def where(self, root: Path) -> str:
        return f"{self.source.relative_to(root)}:{self.line} -> {self.target}"


def relative_links(path: Path) -> Iterator[Link]:
    """The relative links of a Markdown file ([text](path), [text](path#anchor), [text](#anchor), images,
    reference definitions), outside code; http(s), mailto and other URLs with a scheme are not relative."""
    text = without_code(path.read_text())
    matches = [*_INLINE_LINK.finditer(text), *_REFERENCE_DEFINITION.finditer(text)]
    for match in sorted(matches, key=lambda match: match.start(1)):
        target = match.group(1)
        if target and not _SCHEME.match(target):
            yield Link(path, text.count("\n", 0, match.start(1)) + 1, target)


def _target(link: Link, root: Path) -> tuple[Path, str]:
    """The file (or directory) a relative link names, resolved, and its anchor ("" for none)."""
    path_part, _, anchor = link.target.partition("#")
    path_part, anchor = unquote(path_part), unquote(anchor)
    if not path_part:
        target = link.source
    elif path_part.startswith("/"):  # GitHub reads a leading / as the repository's root
        target = root / path_part.lstrip("/")
    else:
        target = link.source.parent / path_part
    return target.resolve(), anchor


def _anchor_problem(target: Path, anchor: str, root: Path) -> str | None:
    if target.is_dir():  # GitHub shows a directory's README.md
        target = target / "README.md"
    if target.suffix != ".md":
        return None if _LINE_ANCHOR.match(anchor) else f"no anchor #{anchor} in a file that is not Markdown"
    if not target.is_file():
        return f"no anchor #{anchor}: the directory has no README.md"
    if anchor not in anchors(target.read_text()):
        return f"no heading or <a id> with the anchor #{anchor} in {target.relative_to(root)}"
    return None


def problem(link: Link, root: Path = ROOT) -> str | None:
    """Why a relative link leads nowhere, or None when its file (and anchor) exist."""
    root = root.resolve()
    target, anchor = _target(link, root)
    if not target.is_relative_to(root):
        return "outside the repository"
    if not target.exists():
        return "no such file"
    return _anchor_problem(target, anchor, root) if anchor else None


@dataclass(frozen=True)
class LinkCheck:
    files: list[Path]
    links: list[Link]
    broken: list[tuple[Link, str]]

    def report(self, root: Path = ROOT) -> str:
        return "\n".join(f"{link.where(root)}: {why}" for link, why in self.broken)


def check_links(root: Path = ROOT) -> LinkCheck:
    """Follow every relative link of every Markdown file under root."""
    files = markdown_files(root)
    links = [link for path in files for link in relative_links(path)]
    broken = [(link, why) for link in links if (why := problem(link, root)) is not None]
    return LinkCheck(files, links, broken)


def prose_lines(readme: str) -> list[str]:
    """The README's prose: its non-blank lines outside fenced code, outside tables (rows start with |)
    and outside the generated inputs/outputs block."""
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    text = without_fences(head + "\n" + tail) if END in rest else without_fences(readme)
    return [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("|")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the README's inputs and outputs tables")
    parser.add_argument("--check", action="store_true", help="fail when README.md is out of date")
    parser.add_argument("--links", action="store_true", help="fail when a Markdown link leads nowhere")
    args = parser.parse_args(argv)
    if args.links:
        result = check_links()
        if result.broken:
            print(f"broken links:\n{result.report()}", file=sys.stderr)
            return 1
        print(f"{len(result.links)} relative links in {len(result.files)} Markdown files: all lead somewhere")
        return 0
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
