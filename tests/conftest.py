"""Session-wide test plumbing."""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT_TESTS = Path(__file__).resolve().parent / "unit"
#: whether this session runs the whole handler unit suite (then its call record is complete)
WHOLE_UNIT_SUITE = pytest.StashKey[bool]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that read the record of the handler's AWS calls run after the tests that make the calls.
    items.sort(key=lambda item: item.get_closest_marker("after_unit_tests") is not None)
    collected = {Path(str(item.path)) for item in items}
    unfiltered = (
        not config.option.keyword and not config.option.markexpr and not getattr(config.option, "lf", False)
    )
    config.stash[WHOLE_UNIT_SUITE] = unfiltered and set(UNIT_TESTS.glob("test_*.py")) <= collected


@pytest.fixture(scope="session")
def whole_unit_suite_in_session(request: pytest.FixtureRequest) -> bool:
    return request.config.stash.get(WHOLE_UNIT_SUITE, False)
