#!/usr/bin/env python3
"""Fetch the bundled corpora named by corpora/*.toml into a git-ignored cache, verifying sha256.

Each manifest names a Debian package and the paths inside it. The package is fetched with
`apt-get download` and unpacked with `dpkg -x` (no root needed). On a system without apt, set
`local_path` on a [[files]] entry (or GENOLM_CORPORA_DIR=DIR holding files by their `name`) and the file
is taken from there, still checksum-verified. Idempotent: verified files are not fetched again.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fail(msg: str) -> None:
    print(f"fetch-corpora: error: {msg}", file=sys.stderr)
    sys.exit(1)


def local_candidate(entry: dict, manifest: Path):
    if "local_path" in entry:
        return (manifest.parent / entry["local_path"]).resolve()
    env_dir = os.environ.get("GENOLM_CORPORA_DIR")
    if env_dir:
        return Path(env_dir) / entry["name"]
    return None


def fetch_debian(package: str, version: str, workdir: Path) -> Path:
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        fail(
            f"apt-get/dpkg not found: cannot fetch Debian package '{package}'. On a non-Debian system, "
            "download the files yourself and either set `local_path = \"...\"` on each [[files]] entry of "
            "the manifest in corpora/, or export GENOLM_CORPORA_DIR=DIR with the files named as in the "
            "manifest's `name` fields. Checksums are still verified."
        )
    spec = f"{package}={version}" if version else package
    res = subprocess.run(["apt-get", "download", spec], cwd=workdir, capture_output=True, text=True)
    if res.returncode != 0:
        # The pinned version may have left the archive; the checksums below still guard the content.
        res = subprocess.run(["apt-get", "download", package], cwd=workdir, capture_output=True, text=True)
    if res.returncode != 0:
        fail(
            f"apt-get download {package} failed:\n{res.stderr.strip()}\n"
            "Run `apt-get update` first (as root), or point the manifest at local files "
            "(local_path / GENOLM_CORPORA_DIR)."
        )
    debs = list(workdir.glob(f"{package}_*.deb"))
    if not debs:
        fail(f"apt-get download {package} produced no .deb in {workdir}")
    root = workdir / "root"
    subprocess.run(["dpkg", "-x", str(debs[0]), str(root)], check=True)
    return root


def fetch_manifest(manifest: Path, cache: Path) -> None:
    with open(manifest, "rb") as f:
        m = tomllib.load(f)
    dest_dir = cache / m["name"]
    dest_dir.mkdir(parents=True, exist_ok=True)
    missing = [e for e in m["files"] if not ((dest_dir / e["name"]).exists() and sha256(dest_dir / e["name"]) == e["sha256"])]
    if not missing:
        print(f"{m['name']}: {len(m['files'])} files present and verified in {dest_dir}")
        return
    with tempfile.TemporaryDirectory(prefix="genolm-fetch-") as tmp:
        tmp = Path(tmp)
        pkg_root = None
        for entry in missing:
            src = local_candidate(entry, manifest)
            if src is None:
                if pkg_root is None:
                    src_cfg = m["source"]
                    pkg_root = fetch_debian(src_cfg["debian_package"], src_cfg.get("debian_version", ""), tmp)
                src = pkg_root / entry["path_in_package"]
            if not src.exists():
                fail(f"{manifest}: file for '{entry['name']}' not found at {src}")
            digest = sha256(src)
            if digest != entry["sha256"]:
                fail(f"{manifest}: '{entry['name']}' from {src} has sha256 {digest}, expected {entry['sha256']}")
            part = dest_dir / (entry["name"] + ".part")
            shutil.copyfile(src, part)
            os.replace(part, dest_dir / entry["name"])
    print(f"{m['name']}: fetched {len(missing)} file(s) into {dest_dir} (sha256 verified)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("manifests", nargs="*", help="manifest files (default: corpora/*.toml)")
    ap.add_argument("--cache", default=".cache/corpora", help="where fetched files go")
    args = ap.parse_args()
    manifests = [Path(p) for p in args.manifests] or sorted(Path("corpora").glob("*.toml"))
    if not manifests:
        fail("no manifests found in corpora/")
    for manifest in manifests:
        fetch_manifest(manifest, Path(args.cache))


if __name__ == "__main__":
    main()
