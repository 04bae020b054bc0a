"""Print one optional-dependency group of pyproject.toml, one requirement a line (stdlib only).

Used by the Makefile so that the pins live in exactly one place: `python3 tools/deps.py dev`.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: deps.py GROUP", file=sys.stderr)
        return 2
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    if argv[1] not in groups:
        print(f"no dependency group {argv[1]!r}; have: {', '.join(sorted(groups))}", file=sys.stderr)
        return 2
    print("\n".join(groups[argv[1]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
