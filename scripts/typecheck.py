#!/usr/bin/env python
"""Type-check drumscribe's public API with mypy, as the package is installed.

setup.cfg's ``package_dir`` maps repository folders to ``drumscribe.<folder>``,
which mypy cannot follow, so the installed layout is staged in a temporary
folder of symbolic links (``drumscribe/transcribe -> transcribe/`` ...) and mypy
runs there on the modules a user or plugin author imports. Imported internal
modules are read for their types but not reported (``--follow-imports=silent``).

    python scripts/typecheck.py            # exit status of mypy
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ("drumscribe", "drumscribe.resources", "drumscribe.transcribe.api", "drumscribe.transcribe.testing",
          "drumscribe.transcribe.hookspecs", "drumscribe.transcribe.pipeline", "drumscribe.transcribe.errors",
          "drumscribe.transcribe.activations", "drumscribe.transcribe.config")


def stage(dest: Path) -> None:
    """Lay out the packages of setup.cfg under ``dest`` as a wheel would install them."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    mapping = {}
    for line in cfg.get("options", "package_dir", fallback="").splitlines():
        if "=" in line:
            name, _, folder = (s.strip() for s in line.partition("="))
            mapping[name] = folder
    packages = [p.strip() for p in cfg.get("options", "packages").split() if p.strip()]
    for pkg in sorted(packages, key=lambda p: p.count(".")):
        target = dest.joinpath(*pkg.split("."))
        if target.exists():
            continue
        source = ROOT / mapping.get(pkg, pkg.replace(".", "/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if pkg in mapping or "." not in pkg:
            if pkg == "drumscribe" and pkg not in mapping:  # its own folder holds mapped children
                target.mkdir()
                for f in source.glob("*.py"):
                    os.symlink(f, target / f.name)
            else:
                os.symlink(source, target, target_is_directory=True)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="drumscribe-typecheck-"))
    try:
        stage(tmp)
        args = [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports",
                "--cache-dir", str(tmp / ".mypy_cache")]
        for mod in PUBLIC:
            args += ["-m", mod]
        return subprocess.run(args, cwd=tmp).returncode
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
