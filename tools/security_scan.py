"""Static security scan of the module and its examples with checkov, offline (stdlib only).

`make checkov` runs ``python -m tools.security_scan``, which

1. fails when an inline checkov skip in a ``.tf`` file (``#checkov:skip=CKV_AWS_xxx:reason``) has no
   reason: every skip must say why the check does not apply;
2. runs checkov over the Terraform files of the directory (the module and ``examples/``; ``tests/`` and
   hidden directories are left out) and exits with checkov's exit code: non-zero on a failed check.

checkov runs without the network: no API key (Bridgecrew/Prisma Cloud settings are removed from its
environment), no policy or mapping download (``--skip-download``, ``BC_SKIP_MAPPING``), no check for a
newer checkov release (``CKV_SKIP_PACKAGE_UPDATE_CHECK``), and no external module download. A file it
cannot parse fails the scan (``CKV_PARSE_ERROR_FAIL``).

Command line (from the repository root):

    python -m tools.security_scan [--checkov BIN] [--json] [DIRECTORY]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_CHECKOV: Final = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"

# checkov's own pattern for inline suppressions (checkov/common/comment/enum.py), and a reason after ":".
SKIP_COMMENT: Final = re.compile(
    r"(?:checkov|bridgecrew):skip= *(?P<check>[A-Za-z_\d]+)(?::(?P<reason>[^\n]*))?"
)

OFFLINE_ENV: Final[Mapping[str, str]] = {
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",  # no request to PyPI for a newer checkov
    "BC_SKIP_MAPPING": "TRUE",  # no download of the platform's policy id mapping
    "CKV_PARSE_ERROR_FAIL": "true",  # a file checkov cannot parse fails the scan
    "LOG_LEVEL": "WARNING",
}
# Settings that would connect checkov to Bridgecrew / Prisma Cloud.
PLATFORM_ENV: Final[tuple[str, ...]] = (
    "BC_API_KEY",
    "BC_API_URL",
    "PRISMA_API_URL",
    "BC_REPO_ID",
    "BC_CA_BUNDLE",
)
SKIPPED_PATHS: Final[tuple[str, ...]] = ("tests",)


class ScanError(RuntimeError):
    """checkov could not be run, or its report could not be read."""


# --------------------------------------------------------------------------------------------------
# Inline skips
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skip:
    """An inline ``checkov:skip`` comment."""

    path: Path
    line: int
    check_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.check_id}: {self.reason or '(no reason)'}"


def terraform_files(directory: Path) -> Iterator[Path]:
    """The ``.tf`` files checkov scans in ``directory``: hidden directories and ``tests/`` left out."""
    for path in sorted(directory.rglob("*.tf")):
        parts = path.relative_to(directory).parts
        if any(part.startswith(".") for part in parts) or parts[0] in SKIPPED_PATHS:
            continue
        yield path


def inline_skips(directory: Path) -> list[Skip]:
    """Every ``checkov:skip`` comment of the Terraform files in ``directory``."""
    skips = []
    for path in terraform_files(directory):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for match in SKIP_COMMENT.finditer(line):
                skips.append(
                    Skip(
                        path=path.relative_to(directory),
                        line=number,
                        check_id=match["check"],
                        reason=(match["reason"] or "").strip(),
                    )
                )
    return skips


def skips_without_reason(skips: Sequence[Skip], minimum_length: int = 10) -> list[Skip]:
    """The skips whose reason is missing or too short to explain anything."""
    return [skip for skip in skips if len(skip.reason) < minimum_length]


# --------------------------------------------------------------------------------------------------
# Running checkov
# --------------------------------------------------------------------------------------------------


def checkov_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: os.environ) that keeps checkov offline (see the module docstring)."""
    env = {name: value for name, value in (os.environ if base is None else base).items()}
    for name in PLATFORM_ENV:
        env.pop(name, None)
    env.update(OFFLINE_ENV)
    return env


def checkov_command(checkov: Path | str, *, json_output: bool = False) -> list[str]:
    """The checkov command line; run it with the scanned directory as working directory.

    (``--skip-path`` patterns are matched against paths that include the scanned directory as given, so
    the directory is given as ``.``.)
    """
    command = [
        str(checkov),
        "--directory",
        ".",
        "--framework",
        "terraform",
        "--skip-download",
        "--download-external-modules",
        "false",
        "--compact",
    ]
    for path in SKIPPED_PATHS:
        command += ["--skip-path", path]
    command += ["--output", "json"] if json_output else ["--quiet"]
    return command


@dataclass(frozen=True)
class CheckovReport:
    """checkov's JSON report of one run."""

    returncode: int
    summary: dict[str, Any]
    failed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    passed: list[dict[str, Any]]
    seconds: float
    stderr: str


def run_checkov(
    directory: Path, checkov: Path | str = DEFAULT_CHECKOV, *, timeout: float = 600
) -> CheckovReport:
    """Run checkov offline over ``directory`` with a JSON report, and read the report."""
    started = time.monotonic()
    try:
        result = subprocess.run(  # noqa: S603 - argument list, no shell
            checkov_command(checkov, json_output=True),
            cwd=directory,
            env=checkov_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as error:
        raise ScanError(f"{checkov} not found: `make .venv-checkov/.installed` installs it") from error
    seconds = time.monotonic() - started
    try:
        report: Any = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise ScanError(
            f"checkov exited {result.returncode} without a JSON report\n--- stdout ---\n{result.stdout}\n"
            f"--- stderr ---\n{result.stderr}"
        ) from error
    # One report per framework: a list when several ran, a dict for one, a bare summary for no files.
    reports = report if isinstance(report, list) else [report]
    summary: dict[str, Any] = {}
    failed: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    passed: list[dict[str, Any]] = []
    for item in reports:
        results = item.get("results") or {}
        failed += results.get("failed_checks") or []
        skipped += results.get("skipped_checks") or []
        passed += results.get("passed_checks") or []
        for key, value in (item.get("summary") or item).items():
            if isinstance(value, int) and not isinstance(value, bool):
                summary[key] = summary.get(key, 0) + value
    return CheckovReport(result.returncode, summary, failed, skipped, passed, seconds, result.stderr)


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="security_scan.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, nargs="?", default=REPO_ROOT, help="default: the repository")
    parser.add_argument("--checkov", default=str(DEFAULT_CHECKOV), help="checkov executable")
    parser.add_argument("--json", action="store_true", help="print checkov's JSON report instead")
    args = parser.parse_args(argv)
    directory: Path = args.directory.resolve()

    out = sys.stderr if args.json else sys.stdout  # keep stdout for the JSON report
    skips = inline_skips(directory)
    unexplained = skips_without_reason(skips)
    if unexplained:
        print("checkov skips without a reason (write #checkov:skip=CKV_...:<why the check does not apply>):")
        for skip in unexplained:
            print(f"  {skip}")
        return 1
    print(f"{len(skips)} inline checkov skips, each with a reason:", file=out)
    for skip in skips:
        print(f"  {skip}", file=out)

    started = time.monotonic()
    try:
        result = subprocess.run(  # noqa: S603 - argument list, no shell
            checkov_command(args.checkov, json_output=args.json),
            cwd=directory,
            env=checkov_env(),
            check=False,
        )
    except FileNotFoundError:
        print(
            f"security_scan: {args.checkov} not found: run `make .venv-checkov/.installed`", file=sys.stderr
        )
        return 1
    print(f"checkov exited {result.returncode} after {time.monotonic() - started:.1f} s", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
