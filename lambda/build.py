#!/usr/bin/env python3
"""Build the Lambda deployment package, byte for byte reproducibly, with the standard library only.

    python3 lambda/build.py            # write lambda/dist/ec2_isolation.zip
    python3 lambda/build.py --check    # exit 1 when the committed zip differs from a fresh build

Reproducible means: files in sorted order, a fixed timestamp, fixed permissions and no compression
(ZIP_STORED), so that the bytes do not depend on the zlib build (zlib and zlib-ng deflate differently).
The package is small enough that compression buys nothing worth that.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "ec2_isolation"
OUTPUT = HERE / "dist" / "ec2_isolation.zip"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def package_files(root: Path = PACKAGE) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def build(root: Path = PACKAGE) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in package_files(root):
            info = zipfile.ZipInfo(path.relative_to(root.parent).as_posix(), date_time=FIXED_TIME)
            info.create_system = 3  # Unix, so that external_attr carries the mode
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when the committed zip is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    fresh = build()
    digest = hashlib.sha256(fresh).hexdigest()
    if args.check:
        current = args.output.read_bytes() if args.output.exists() else b""
        if current != fresh:
            print(f"{args.output} is stale or missing: run `make package` and commit it", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date (sha256 {digest})")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(fresh)
    print(f"wrote {args.output} ({len(fresh)} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
