#!/usr/bin/env python
"""Put every installed package under the one project namespace ``drumscribe``.

The repository keeps its folders (``transcribe/``, ``plugins/``, ``calibration/``,
``training/``, ``charts/`` when present, ``models/``); setup.cfg's ``package_dir``
maps each folder ``X`` to ``drumscribe.X``, so a wheel installs ``drumscribe/X/``
and nothing else at the top level. This script does the mechanical part:

* setup.cfg: ``packages`` and ``package_dir`` regenerated from the folders
  (``transcribe``, ``plugins``, ``calibration``, ``training``, ``charts``, any
  other top-level package setup.cfg lists, and ``--package FOLDER``; a
  ``packages = find:`` and its ``[options.packages.find]`` are replaced), the
  ``package_data`` keys, entry points and ``attr:`` values prefixed;
* Python files: ``from X... import``, ``import X... as``, dotted module paths
  such as ``"X.mod"`` or ``X.mod:main`` in strings and comments, and
  ``-m X`` in commands;
* Markdown, shell, YAML, TOML and ``.ci/run``: the same dotted paths and
  import lines (repository paths such as ``transcribe/cli.py`` stay).

A dotted name ``X.y`` is rewritten only when ``X/y.py`` or ``X/y/`` exists, so
``plugins.md`` or ``calibration.yaml`` are left alone. Text already under
``drumscribe.`` is never touched: running the script twice changes nothing
(``--check`` exits 1 when something would still change). Run it from anywhere:

    python scripts/namespace_rename.py            # rewrite in place, list changed files
    python scripts/namespace_rename.py --check    # change nothing; exit 1 if a rewrite is due
    pip install -e .                              # the editable install must be redone
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "drumscribe"
CANDIDATES = ("transcribe", "plugins", "calibration", "training", "charts")
"""Folders that become ``drumscribe.<folder>`` (those that exist as packages)."""
DATA_PACKAGES = ("models",)
"""Folders mapped as data-only subpackages (``drumscribe.models``: the shipped model)."""
TEXT_SUFFIXES = {".py", ".md", ".rst", ".txt", ".sh", ".yaml", ".yml", ".toml", ".cfg", ".ini"}
SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "node_modules", "__pycache__", ".mypy_cache",
             ".ruff_cache", ".pytest_cache"}
SELF = Path(__file__).resolve()


def packages(root: Path, extra: Tuple[str, ...] = ()) -> List[str]:
    """The top-level package folders to map (each has an ``__init__.py``): the
    known ones, any other top-level package setup.cfg still installs (a branch
    merged after the rename may add one), and ``extra``."""
    names = list(CANDIDATES) + list(extra)
    cfg = root / "setup.cfg"
    if cfg.is_file():
        text = cfg.read_text(encoding="utf-8")
        for sec in ("options", "options.packages.find"):
            m = re.search(rf"^\[{re.escape(sec)}\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
            if not m:
                continue
            for opt in ("packages", "include"):
                o = re.search(rf"^{opt}\s*=(.*(?:\n[ \t]+\S.*)*)", m.group(1), re.M)
                if o:
                    for w in re.split(r"[\s,]+", o.group(1)):
                        parts = w.split(".")
                        names.append(parts[1] if parts[0] == NAMESPACE and len(parts) > 1 else parts[0])
    out = []
    for p in names:
        if p and p not in out and p != NAMESPACE and p not in DATA_PACKAGES and "=" not in p and "*" not in p \
                and (root / p / "__init__.py").is_file():
            out.append(p)
    return out


def subpackages(root: Path, top: str) -> List[str]:
    """``top`` and its subpackages as dotted names (folders with ``__init__.py``;
    a folder holding its own setup.cfg or pyproject.toml is a separate distribution)."""
    out = []
    for init in sorted((root / top).rglob("__init__.py")):
        d = init.parent
        rel = d.relative_to(root)
        if any(part in SKIP_DIRS for part in rel.parts):
            continue
        chain = [root / Path(*rel.parts[:i]) for i in range(1, len(rel.parts) + 1)]
        if not all((c / "__init__.py").is_file() for c in chain):
            continue
        if any((c / "setup.cfg").exists() or (c / "pyproject.toml").exists() for c in chain):
            continue
        out.append(".".join(rel.parts))
    return out


def _is_module(root: Path, top: str, rest: str) -> bool:
    """``top.rest`` names a module or package that exists in the repository."""
    parts = [p for p in rest.split(".") if p]
    if not parts:
        return False
    head = root / top / parts[0]
    return head.with_suffix(".py").is_file() or (head / "__init__.py").is_file() or head.is_dir()


class Rewriter:
    """Text rewrites for one repository."""

    def __init__(self, root: Path, extra: Tuple[str, ...] = ()):
        self.root = root
        self.pkgs = packages(root, extra)
        alt = "|".join(map(re.escape, self.pkgs)) or "(?!)"
        # X.mod.sub, not preceded by a word, a dot, a slash or a dash (so never drumscribe.X.mod)
        self.dotted = re.compile(rf"(?<![\w./\-])({alt})((?:\.[A-Za-z_]\w*)+)")
        # from X import ..., from X.mod import ...; import X.mod as y; import X
        self.from_imp = re.compile(rf"(?<![\w.])from\s+({alt})((?:\.\w+)*)\s+import\b")
        self.import_as = re.compile(rf"(?<![\w.])import\s+({alt})((?:\.\w+)*)(\s+as\s+\w+)")
        self.import_bare = re.compile(rf"^(\s*(?:>>>\s+|\.\.\.\s+)?)import\s+({alt})\s*$", re.M)
        self.dash_m = re.compile(rf"((?<![\w-])-m[\"']?,?\s*[\"']?)({alt})(?=[\"'\s.`]|$)", re.M)
        self.warnings: List[str] = []

    def _dotted(self, m: re.Match) -> str:
        top, rest = m.group(1), m.group(2)
        if rest.startswith(".") and _is_module(self.root, top, rest[1:]):
            return f"{NAMESPACE}.{top}{rest}"
        return m.group(0)

    def text(self, s: str, path: Path) -> str:
        s = self.from_imp.sub(lambda m: f"from {NAMESPACE}.{m.group(1)}{m.group(2)} import", s)
        s = self.import_as.sub(lambda m: f"import {NAMESPACE}.{m.group(1)}{m.group(2)}{m.group(3)}", s)
        s = self.import_bare.sub(lambda m: f"{m.group(1)}from {NAMESPACE} import {m.group(2)}", s)
        s = self.dash_m.sub(lambda m: f"{m.group(1)}{NAMESPACE}.{m.group(2)}", s)
        s = self.dotted.sub(self._dotted, s)
        if path.suffix == ".py":
            alt = "|".join(self.pkgs)
            for m in re.finditer(rf"^\s*import\s+({alt})\.\w[\w.]*\s*$", s, re.M):
                self.warnings.append(f"{path}: '{m.group(0).strip()}' binds the old name; "
                                     "rewrite it by hand as 'from drumscribe.X import mod'")
        return s

    def setup_cfg(self, s: str) -> str:
        s = self._drop_section(s, "options.packages.find")
        pkgs = [NAMESPACE] + [f"{NAMESPACE}.{d}" for d in DATA_PACKAGES if (self.root / d).is_dir()]
        dirs = [(f"{NAMESPACE}.{d}", d) for d in DATA_PACKAGES if (self.root / d).is_dir()]
        for top in self.pkgs:
            pkgs += [f"{NAMESPACE}.{p}" for p in subpackages(self.root, top)]
            dirs.append((f"{NAMESPACE}.{top}", top))
        s = self._set_option(s, "options", "packages", "\n" + "\n".join(f"    {p}" for p in pkgs))
        s = self._set_option(s, "options", "package_dir",
                             "\n" + "\n".join(f"    {k} = {v}" for k, v in dirs))
        alt = "|".join(self.pkgs)
        for sec in ("options.package_data", "options.exclude_package_data"):
            s = self._edit_section(s, sec, lambda body: re.sub(
                rf"^({alt})((?:\.\w+)*)(\s*=)", rf"{NAMESPACE}.\1\2\3", body, flags=re.M))
        s = self.dotted.sub(self._dotted, s)  # entry points, attr: values
        return s

    # -- minimal INI editing that keeps comments and order
    @staticmethod
    def _section_span(s: str, name: str) -> Optional[Tuple[int, int]]:
        m = re.search(rf"^\[{re.escape(name)}\]\s*$", s, re.M)
        if not m:
            return None
        n = re.search(r"^\[", s[m.end():], re.M)
        return m.end(), (m.end() + n.start()) if n else len(s)

    def _edit_section(self, s: str, name: str, fn) -> str:
        span = self._section_span(s, name)
        if not span:
            return s
        return s[:span[0]] + fn(s[span[0]:span[1]]) + s[span[1]:]

    def _drop_section(self, s: str, name: str) -> str:
        m = re.search(rf"^\[{re.escape(name)}\]\s*$", s, re.M)
        if not m:
            return s
        span = self._section_span(s, name)
        return s[:m.start()] + s[span[1]:]

    def _set_option(self, s: str, section: str, key: str, value: str) -> str:
        def fn(body: str) -> str:
            opt = re.compile(rf"^{re.escape(key)}\s*=.*(?:\n[ \t]+\S.*)*", re.M)
            line = f"{key} ={value}"
            if opt.search(body):
                return opt.sub(lambda _m: line, body, count=1)
            return body.rstrip("\n") + f"\n{line}\n\n" if body.strip() else f"\n{line}\n\n"
        return self._edit_section(s, section, fn)


def files(root: Path) -> List[Path]:
    """Tracked and untracked (not ignored) text files, or a walk when git is absent."""
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.splitlines()
        paths = [root / p for p in out]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for p in root.rglob("*") if p.is_file()]
    keep = []
    for p in paths:
        rel = p.relative_to(root)
        if any(part in SKIP_DIRS or part.startswith(".venv") for part in rel.parts[:-1]) or not p.is_file():
            continue
        if p.resolve() == SELF:
            continue
        if p.suffix in TEXT_SUFFIXES or rel.as_posix() == ".ci/run":
            keep.append(p)
    return sorted(set(keep))


def run(root: Path, check: bool = False, extra: Tuple[str, ...] = ()) -> Tuple[List[Path], List[str]]:
    rw = Rewriter(root, extra)
    changed: Dict[Path, str] = {}
    for p in files(root):
        try:
            old = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = rw.setup_cfg(old) if p.relative_to(root).as_posix() == "setup.cfg" else rw.text(old, p)
        if new != old:
            changed[p] = new
    if not check:
        for p, new in changed.items():
            p.write_text(new, encoding="utf-8")
    return sorted(changed), rw.warnings


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a rewrite is due")
    ap.add_argument("--package", action="append", default=[], metavar="FOLDER",
                    help="another top-level package folder to map to drumscribe.FOLDER")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    changed, warnings = run(root, check=args.check, extra=tuple(args.package))
    print("packages mapped: " + ", ".join(f"drumscribe.{p} = {p}/" for p in packages(root, tuple(args.package))))
    for p in changed:
        print(("would rewrite " if args.check else "rewrote ") + p.relative_to(root).as_posix())
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.check:
        return 1 if changed else 0
    if changed:
        print(f"{len(changed)} files rewritten; now run: pip install -e .")
    return 0


if __name__ == "__main__":
    sys.exit(main())
