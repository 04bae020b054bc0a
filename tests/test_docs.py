"""The README documents every input (with its default) and every output of the module, and stays short
for module users; every relative link of the repository's Markdown leads somewhere; the changelog and
the README's pins follow the package's one version."""

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


# The README is for module users: its prose stays short, the depth is in docs/.

README_PROSE_LIMIT = 350


def test_the_readme_prose_stays_within_its_limit() -> None:
    # Given the README
    readme = (ROOT / "README.md").read_text()
    # When its prose is counted (not code, not tables, not the generated inputs/outputs, not blank lines)
    prose = docs.prose_lines(readme)
    # Then it is at most the limit
    assert len(prose) <= README_PROSE_LIMIT, (
        f"README.md has {len(prose)} lines of prose, more than {README_PROSE_LIMIT}: move the depth to docs/"
    )


def test_the_prose_count_leaves_out_code_tables_the_generated_block_and_blank_lines() -> None:
    # Given a README with two lines of prose, and code, a table, a generated block and blank lines
    readme = "\n".join(
        [
            "# Title",
            "",
            "```sh",
            "make demo",
            "```",
            "| a | b |",
            "| --- | --- |",
            docs.BEGIN,
            "## Inputs",
            "prose the generator wrote",
            docs.END,
            "",
            "   ",
            "The last line.",
        ]
    )
    # When its prose is counted
    prose = docs.prose_lines(readme)
    # Then only the heading and the last line count
    assert prose == ["# Title", "The last line."]


# Every relative link of every Markdown file leads to a file that exists, and to one of its anchors.


def test_every_relative_link_of_every_markdown_file_leads_somewhere() -> None:
    # Given the repository's Markdown files
    # When every relative link of each is followed
    result = docs.check_links(ROOT)
    # Then each leads to an existing file and, when it names one, to an anchor of that file
    assert not result.broken, f"{len(result.broken)} broken link(s):\n{result.report(ROOT)}"


def test_the_link_check_reads_every_markdown_file_and_follows_their_links() -> None:
    # Given the repository
    # When its links are checked
    result = docs.check_links(ROOT)
    files = {path.relative_to(ROOT).as_posix() for path in result.files}
    # Then the check read the README, the changelog, every docs page, the examples' and the member
    # module's READMEs, and nothing under a virtualenv or a Terraform working directory
    expected = {"README.md", "CHANGELOG.md", "modules/member/README.md"}
    expected |= {path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").glob("*.md")}
    expected |= {path.relative_to(ROOT).as_posix() for path in (ROOT / "examples").glob("*/README.md")}
    assert len(expected) > 10 and expected <= files, f"not read: {sorted(expected - files)}"
    assert not [name for name in files if name.startswith((".", "build/")) or "/.terraform/" in name]
    # And it followed enough links not to be vacuous: the README's alone link every docs page
    assert len(result.links) >= 20, f"only {len(result.links)} relative links found"
    readme_targets = {link.target for link in result.links if link.source == ROOT / "README.md"}
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in readme_targets, (
            f"the README's documentation list lacks docs/{page.name}"
        )


def test_the_link_check_reports_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    # Given a tree whose README links to a missing file and to a missing anchor, among good links
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(
        '# A page\n\n## Step 1: the cut, *read back*\n\n## Twice\n\n## Twice\n\n<a id="kept"></a>\n'
    )
    (tmp_path / "README.md").write_text(
        "# Title\n"
        "\n"
        "## Usage\n"
        "See [the page](docs/page.md), [step 1](docs/page.md#step-1-the-cut-read-back),\n"
        "[the second twice](docs/page.md#twice-1), [kept](docs/page.md#kept), [usage](#usage),\n"
        "[the web](https://example.com/missing.md) and `[in code](missing-in-code.md)`.\n"
        "\n"
        "```md\n"
        "[in a fence](missing-in-a-fence.md)\n"
        "```\n"
        "\n"
        "Broken: [a file](docs/missing.md) and\n"
        "[an anchor](docs/page.md#step-2).\n"
    )
    # When its links are checked
    result = docs.check_links(tmp_path)
    # Then the good links are followed, the links in code and to the web are not, and both broken
    # links are reported with their file and line
    assert len(result.links) == 7
    assert [link.where(tmp_path) for link, _ in result.broken] == [
        "README.md:12 -> docs/missing.md",
        "README.md:13 -> docs/page.md#step-2",
    ]
    report = result.report(tmp_path)
    assert "no such file" in report and "no heading or <a id> with the anchor #step-2" in report


def test_anchors_are_the_ones_github_gives_headings() -> None:
    # Given headings with punctuation, code, links, underscores, repeats, and an explicit anchor
    text = "\n".join(
        [
            "# Release: the same tag, the release value",
            "## `make docs` and the_tables",
            "## See [the page](page.md)",
            "## FAQ",
            "## FAQ",
            "## FAQ",
            "```",
            "# not a heading",
            "```",
            '<a name="legacy"></a>',
        ]
    )
    # When its anchors are computed
    found = docs.anchors(text)
    # Then they are lowercased, stripped of punctuation, with hyphens for spaces, and numbered when repeated
    assert found == {
        "release-the-same-tag-the-release-value",
        "make-docs-and-the_tables",
        "see-the-page",
        "faq",
        "faq-1",
        "faq-2",
        "legacy",
    }


# One version: __version__ of the package; the changelog's newest release and the README's pins follow it.


def _released_versions(changelog: str) -> list[str]:
    return re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, flags=re.M)


def test_the_changelog_keeps_a_changelog_and_its_newest_release_is_the_package_version() -> None:
    # Given the changelog and the package's version
    import ec2_isolation

    changelog = (ROOT / "CHANGELOG.md").read_text()
    # When its release headings are read
    released = _released_versions(changelog)
    assert released, "CHANGELOG.md has no release heading: ## [x.y.z] - YYYY-MM-DD"
    # Then it follows Keep a Changelog, with an Unreleased section above the releases, newest first
    assert "https://keepachangelog.com/en/1.1.0/" in changelog and "https://semver.org/" in changelog
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{released[0]}]")
    as_numbers = [tuple(int(part) for part in version.split(".")) for version in released]
    assert as_numbers == sorted(as_numbers, reverse=True), f"releases not newest first: {released}"
    # And the newest release is the package's version
    assert released[0] == ec2_isolation.__version__, (
        f"CHANGELOG.md's newest release is {released[0]}, ec2_isolation.__version__ is "
        f"{ec2_isolation.__version__}"
    )


def _pins(text: str) -> tuple[list[str], list[str]]:
    """The versions a text pins: module sources (?ref=v...) and git installs (.git@v...)."""
    return re.findall(r"\?ref=v([^\s\"&)]+)", text), re.findall(r"\.git@v([^\s\"&)]+)", text)


def test_the_readme_pins_the_module_and_the_cli_at_the_package_version() -> None:
    # Given the package's version, the README, and the other Markdown files but the changelog (its
    # entries name the versions they were written for)
    import ec2_isolation

    version = ec2_isolation.__version__
    others = [
        path
        for path in docs.markdown_files(ROOT)
        if path.relative_to(ROOT).as_posix() not in {"README.md", "CHANGELOG.md"}
    ]
    # When their pins are read
    refs, installs = _pins((ROOT / "README.md").read_text())
    # Then the README pins both the module's source and the CLI's install, at the package's version
    assert refs, 'README.md\'s module block pins no version: source = "git::...?ref=v<version>"'
    assert installs, "README.md's pipx install pins no version: git+https://...git@v<version>"
    wrong = [f"README.md: v{pin}" for pin in refs + installs if pin != version]
    # And so does every other pin
    for path in others:
        module_refs, git_installs = _pins(path.read_text())
        wrong += [f"{path.relative_to(ROOT)}: v{pin}" for pin in module_refs + git_installs if pin != version]
    assert not wrong, f"pins other than ec2_isolation.__version__ ({version}):\n" + "\n".join(wrong)


#: a citation of an issue number (the word, then a number or #number): code and docs describe behaviour
_ISSUE_CITATION = re.compile(r"\bissues?[ #]*\d+", re.IGNORECASE)
_SKIPPED_PARTS = {".git", ".terraform", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache"}


def issue_citations(root: Path) -> list[str]:
    """Every line of code, Terraform or documentation under ``root`` that cites an issue number."""
    found = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if (
            not path.is_file()
            or any(p in _SKIPPED_PARTS or p.startswith(".venv") for p in parts)
            or (path.suffix not in {".py", ".tf", ".md", ".feature", ".hcl"} and path.name != "Makefile")
        ):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if _ISSUE_CITATION.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_code_and_docs_cite_no_issue_numbers() -> None:
    assert issue_citations(ROOT) == []


def test_an_issue_citation_is_found(tmp_path: Path) -> None:
    word = "issue"  # the planted citations are built, so that this file cites none itself
    (tmp_path / "handler.py").write_text(f'"""Cross-account isolation ({word} 7 §1)."""\n')
    (tmp_path / "main.tf").write_text(f"# see {word.title()} #12\n")
    (tmp_path / "notes.txt").write_text(f"{word} 3\n")  # not code or docs
    assert issue_citations(tmp_path) == [
        f'handler.py:1: """Cross-account isolation ({word} 7 §1)."""',
        f"main.tf:1: # see {word.title()} #12",
    ]
