"""The committed Lambda zip is exactly what lambda/build.py builds from the sources."""

from __future__ import annotations

import importlib.util
import io
import sys
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lambda_build", ROOT / "lambda" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["lambda_build"] = module
    spec.loader.exec_module(module)
    return module


build = _build_module()


def test_the_committed_zip_is_not_stale() -> None:
    committed = build.OUTPUT.read_bytes()
    assert committed == build.build(), (
        "lambda/dist/ec2_isolation.zip is stale: run `make package` and commit it"
    )


def test_the_build_is_byte_for_byte_reproducible() -> None:
    assert build.build() == build.build()


def test_the_zip_holds_every_module_and_nothing_else() -> None:
    names = zipfile.ZipFile(io.BytesIO(build.build())).namelist()
    sources = sorted(p.relative_to(ROOT / "lambda").as_posix() for p in build.package_files())
    assert names == sources
    assert "ec2_isolation/handler.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_a_changed_source_makes_the_check_fail(tmp_path: Path) -> None:
    package = tmp_path / "ec2_isolation"
    package.mkdir()
    (package / "__init__.py").write_text("x = 1\n")
    before = build.build(package)
    (package / "__init__.py").write_text("x = 2\n")
    assert build.build(package) != before
    stale = tmp_path / "stale.zip"
    stale.write_bytes(before)
    assert build.main(["--check", "--output", str(stale)]) == 1


def test_the_zip_imports_and_exposes_the_handler(tmp_path: Path) -> None:
    archive = tmp_path / "fn.zip"
    archive.write_bytes(build.OUTPUT.read_bytes())
    zipfile.ZipFile(archive).extractall(tmp_path / "fn")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import ec2_isolation.handler as h; assert callable(h.lambda_handler); print(h.__file__)"
    )
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "fn")], check=True, capture_output=True, text=True
    ).stdout
    assert out.startswith(str(tmp_path / "fn"))
