#!/usr/bin/env python3
"""Fetches the native runtime libraries listed in scripts/runtimes.toml for one target, and builds the ones
PyPI only ships as source.

Each library comes from a pinned PyPI wheel (pip download, no install), is unpacked into
.runtimes/<target>/<engine>/ and checked against its sha256. A file already in place with the right checksum is
left alone, so running this again does nothing. A `[[build]]` entry is built once from its sdist into
the cache (see `build_cache`), which later runs and clones reuse.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import urllib.request
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
    # A library that finds its neighbours by relative paths (an RPATH such as $ORIGIN/mnn.libs) keeps the
    # wheel's folders; others are unpacked flat.
    place = (lambda member: dest / member) if library.get("keep_paths") else (lambda member: dest / Path(member).name)
    wanted = {member: (place(member), digest) for member, digest in library["files"].items()}
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
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(path.suffix + ".partial")
                partial.write_bytes(wheel.read(member))
                got = sha256(partial)
                if got != digest:
                    partial.unlink()
                    sys.exit(f"setup: {member} from {wheels[0].name} has sha256 {got}, expected {digest}")
                if library.get("executable"):
                    partial.chmod(0o755)
                partial.replace(path)
    print(f"setup: {library['engine']} ready in {dest.relative_to(ROOT)}", file=sys.stderr)


def build_cache(build: dict) -> Path:
    """Where a source build lives; the backend's build script looks in the same place."""
    base = os.environ.get("HARNESS_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "harness"
    name, version = build["package"].split("==")
    return Path(base) / f"{name}-{version}-{build['target']}"


def sdist_url(package: str, digest: str) -> str:
    """The sdist's address from PyPI's JSON simple index (what pip reads), matched by its sha256."""
    name, version = package.split("==")
    request = urllib.request.Request(
        f"https://pypi.org/simple/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=180) as response:
        index = json.load(response)
    for entry in index["files"]:
        if entry["filename"] == f"{name}-{version}.tar.gz" and entry["hashes"].get("sha256") == digest:
            return entry["url"]
    sys.exit(f"setup: PyPI has no sdist of {package} with sha256 {digest}")


def build(entry: dict) -> None:
    cache = build_cache(entry)
    if all((cache / output).is_file() for output in entry["outputs"]):
        return
    print(f"setup: building {entry['package']} from source into {cache} (minutes, once)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sdist = tmp / "sdist.tar.gz"
        with urllib.request.urlopen(sdist_url(entry["package"], entry["sdist_sha256"]), timeout=180) as response:
            sdist.write_bytes(response.read())
        if sha256(sdist) != entry["sdist_sha256"]:
            sys.exit(f"setup: the sdist of {entry['package']} does not match its sha256")
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp / "src", filter="data")
        (source,) = (tmp / "src").iterdir()
        tools = tmp / "tools"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--only-binary=:all:", "--target", tools, *entry["tools"]],
            check=True,
        )
        env = dict(os.environ, PATH=f"{tools / 'bin'}:{os.environ['PATH']}", PYTHONPATH=str(tools))
        partial = cache.with_name(cache.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        run = lambda *command: subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        run("cmake", "-S", source, "-B", tmp / "build", "-G", "Ninja", f"-DCMAKE_INSTALL_PREFIX={partial}",
            *entry["cmake_options"])
        run("cmake", "--build", tmp / "build", "--parallel", str(os.cpu_count() or 2))
        run("cmake", "--install", tmp / "build")
        missing = [output for output in entry["outputs"] if not (partial / output).is_file()]
        if missing:
            sys.exit(f"setup: the build of {entry['package']} did not produce {missing}")
        shutil.rmtree(cache, ignore_errors=True)
        partial.replace(cache)
    print(f"setup: {entry['engine']} built in {cache}", file=sys.stderr)


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else None
    manifest = tomllib.loads((ROOT / "scripts" / "runtimes.toml").read_text())
    libraries = [lib for lib in manifest["library"] if lib["target"] == target]
    if not libraries:
        sys.exit(f"setup: scripts/runtimes.toml lists no library for the target {target!r}")
    for library in libraries:
        fetch(library)
    for entry in manifest.get("build", []):
        if entry["target"] == target:
            build(entry)


if __name__ == "__main__":
    main()
