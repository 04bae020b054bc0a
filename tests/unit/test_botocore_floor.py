"""The botocore floor: pyproject's botocore-floor group, and `make unit-botocore-floor` really running on it.

The deployed function runs with the Lambda runtime's own boto3/botocore, older than the dev pins;
`make unit-botocore-floor` runs this suite in a virtualenv of the botocore-floor group and sets
``EC2_ISOLATION_EXPECT_BOTOCORE`` to the group's botocore pin. There, the last test fails unless the
interpreter really imports that botocore (not the dev pin, not one leaking in from elsewhere); in any
other run it is skipped.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path

import boto3
import botocore
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECT_ENV = "EC2_ISOLATION_EXPECT_BOTOCORE"
_PIN = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(?P<version>\S+)")


def pins(group: str) -> dict[str, str]:
    """``name -> version`` of an optional-dependency group; every requirement of it must be ``==``."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for requirement in pyproject["project"]["optional-dependencies"][group]:
        match = _PIN.fullmatch(requirement)
        assert match, f"{group}: {requirement!r} is not pinned with =="
        found[match["name"].lower().replace("_", "-")] = match["version"]
    return found


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_the_floor_group_pins_boto3_and_botocore_together_below_the_dev_pins() -> None:
    floor, dev = pins("botocore-floor"), pins("dev")

    assert floor["boto3"] == floor["botocore"]
    assert _version(floor["botocore"]) < _version(dev["botocore"])
    # What tests/unit needs besides boto3 and botocore, from the same group.
    assert {"moto", "pytest", "pytest-xdist", "hypothesis"} <= set(floor)


@pytest.mark.skipif(
    EXPECT_ENV not in os.environ,
    reason=f"only in `make unit-botocore-floor`, which sets {EXPECT_ENV} to the floor's botocore",
)
def test_the_floor_run_imports_the_floor_botocore() -> None:
    expected = os.environ[EXPECT_ENV]

    assert expected == pins("botocore-floor")["botocore"]
    assert botocore.__version__ == expected
    assert boto3.__version__ == pins("botocore-floor")["boto3"]
    # The floor virtualenv's own copy (the handler's clients are built on whatever `botocore` imports).
    assert Path(botocore.__file__).resolve().is_relative_to(Path(sys.prefix).resolve())
