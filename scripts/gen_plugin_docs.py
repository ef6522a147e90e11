#!/usr/bin/env python
"""Generate the "Hook reference" section of docs/plugins.md from transcribe/hookspecs.py.

The section between the marker comments :data:`BEGIN` and :data:`END` is
rewritten from the hookspec module's source: every hook (in the order they are
defined, which is the order they run), its kind, signature and docstring, then
the data types hooks receive and the threshold priorities. Everything outside
the markers is hand-written and left alone.

Usage::

    python scripts/gen_plugin_docs.py          # rewrite docs/plugins.md
    python scripts/gen_plugin_docs.py --check  # exit 1 if it is out of date

``tests/test_plugin_docs.py`` runs the check.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
HOOKSPECS = ROOT / "transcribe" / "hookspecs.py"
TYPES_MODULE = ROOT / "transcribe" / "types.py"
DOC = ROOT / "docs" / "plugins.md"
BEGIN = ("<!-- BEGIN HOOK REFERENCE: generated from transcribe/hookspecs.py by "
         "scripts/gen_plugin_docs.py; do not edit by hand -->")
END = "<!-- END HOOK REFERENCE -->"
TYPES = ("Onset", "ThresholdLayer", "Candidates", "Context")
KINDS = {
    "first result": "the first non-`None` answer wins; later plugins are not called",
    "chained": "each plugin gets the previous one's output; `None` passes it on unchanged",
    "collected": "every plugin is called; all non-`None` answers are used",
    "every plugin": "every plugin is called; the return value is ignored",
}


@dataclass
class Hook:
    """One hookspec as read from the source."""

    name: str
    signature: str
    decorator: str
    kind: str
    doc: str
    args: List[str]
    returns: str


def _unparse(node: Optional[ast.AST]) -> str:
    if node is None:
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value  # a quoted forward reference
    return re.sub(r"""['"](\w+)['"]""", r"\1", ast.unparse(node))


def _kind(name: str, firstresult: bool, doc: str) -> str:
    summary = doc.split("\n\n")[0].lower()
    if firstresult:
        return "first result"
    if "chained" in summary:
        return "chained"
    if "collected" in summary:
        return "collected"
    if "for every plugin" in doc.lower():
        return "every plugin"
    raise SystemExit(f"{HOOKSPECS}: cannot tell the kind of {name}: say 'chained', "
                     "'collected' or 'for every plugin' in its docstring, or use firstresult")


def read_hooks(source: str) -> List[Hook]:
    """The hookspecs of ``source`` in definition order.

    Parameters
    ----------
    source : str
        Text of ``transcribe/hookspecs.py``.

    Returns
    -------
    list of Hook
    """
    hooks = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        decos = [d for d in node.decorator_list
                 if _unparse(d.func if isinstance(d, ast.Call) else d) == "hookspec"]
        if not decos:
            continue
        deco = decos[0]
        firstresult = isinstance(deco, ast.Call) and any(
            k.arg == "firstresult" and isinstance(k.value, ast.Constant) and k.value.value
            for k in deco.keywords)
        args = [a.arg for a in node.args.args]
        params = ", ".join(f"{a.arg}: {_unparse(a.annotation)}" if a.annotation else a.arg
                           for a in node.args.args)
        returns = _unparse(node.returns) or "None"
        doc = ast.get_docstring(node) or ""
        hooks.append(Hook(node.name, f"def {node.name}({params}) -> {returns}",
                          "@" + _unparse(deco), _kind(node.name, firstresult, doc), doc,
                          args, returns))
    return hooks


def read_types(source: str) -> List[Tuple[str, str]]:
    """(name, docstring) of the data classes hooks receive."""
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name in TYPES:
            out.append((node.name, ast.get_docstring(node) or ""))
    return out


def read_priorities(source: str) -> List[Tuple[str, str, str]]:
    """(name, value, docstring) of the ``PRIORITY_*`` constants, in source order."""
    body = ast.parse(source).body
    out = []
    for i, node in enumerate(body):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id.startswith("PRIORITY_")):
            doc = ""
            if i + 1 < len(body) and isinstance(body[i + 1], ast.Expr) and isinstance(
                    getattr(body[i + 1], "value", None), ast.Constant):
                doc = str(body[i + 1].value.value)
            out.append((node.targets[0].id, ast.unparse(node.value), doc))
    return out


def _inline(text: str) -> str:
    """reST roles and literals -> Markdown code spans."""
    text = re.sub(r":\w+:`~?([\w.]+)`",
                  lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`" if "~" in m.group(0)
                  else f"`{m.group(1)}`", text)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def numpydoc_to_markdown(doc: str) -> str:
    """Render a numpydoc docstring as Markdown (sections become bold headings,
    parameters a bullet list).

    Parameters
    ----------
    doc : str
        A cleaned docstring (``ast.get_docstring``).

    Returns
    -------
    str
    """
    lines = doc.splitlines()
    out: List[str] = []
    section = None
    described = False
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and set(nxt.strip()) == {"-"} and len(nxt.strip()) >= 3:
            section = line.strip()
            if out and out[-1] != "":
                out.append("")
            out.extend([f"**{section}**", ""])
            i += 2
            continue
        if section in ("Parameters", "Returns", "Attributes", "Raises") and line.strip():
            if not line.startswith(" "):
                name, sep, typ = line.partition(" : ")
                if sep:
                    out.append(f"- `{name.strip()}` ({_inline(typ.strip())})")
                else:
                    out.append(f"- {_inline(line.strip())}")
                described = False
            else:
                out[-1] += (" " if described else ": ") + _inline(line.strip())
                described = True
            i += 1
            continue
        out.append(_inline(line))
        i += 1
    return "\n".join(out).strip() + "\n"


def render_reference(source: Optional[str] = None) -> str:
    """The generated section, markers included.

    Parameters
    ----------
    source : str, optional
        Text of the hookspec module; default: read ``transcribe/hookspecs.py``.

    Returns
    -------
    str
    """
    source = source if source is not None else HOOKSPECS.read_text(encoding="utf-8")
    hooks = read_hooks(source)
    parts = [BEGIN, "", "## Hook reference", "",
             "Generated from the docstrings of `transcribe/hookspecs.py`. The hooks run once "
             "per song in this order (`drumscribe_configure` once per run):", "",
             "| # | hook | kind | receives | returns |",
             "|---|------|------|----------|---------|"]
    for n, h in enumerate(hooks, 1):
        parts.append(f"| {n} | [`{h.name}`](#{h.name}) | {h.kind} | "
                     f"{', '.join(f'`{a}`' for a in h.args)} | `{h.returns}` |")
    parts += ["", "Kinds:", ""]
    parts += [f"- **{k}**: {v}." for k, v in KINDS.items() if any(h.kind == k for h in hooks)]
    for h in hooks:
        parts += ["", f"### {h.name}", "", f"*{h.kind}*: {KINDS[h.kind]}.", "",
                  "```python", h.decorator, h.signature, "```", "",
                  numpydoc_to_markdown(h.doc).rstrip()]
    types_source = TYPES_MODULE.read_text(encoding="utf-8") if TYPES_MODULE.is_file() else ""
    parts += ["", "### Data types", "",
              "Defined in `drumscribe.transcribe.types` (and importable from `drumscribe.transcribe.hookspecs`, as before).",
              ""]
    for name, doc in read_types(source) + read_types(types_source):
        parts += [f"#### {name}", "", numpydoc_to_markdown(doc).rstrip(), ""]
    parts += ["### Threshold priorities", "",
              "Constants in `drumscribe.transcribe.types` (re-exported by `drumscribe.transcribe.hookspecs`); for each "
              "class the layer with the highest priority wins.", "",
              "| constant | value | used for |", "|---|---|---|"]
    for name, value, doc in read_priorities(source) + read_priorities(types_source):
        parts.append(f"| `{name}` | {value} | {_inline(doc)} |")
    parts += ["", END]
    return "\n".join(parts) + "\n"


def split_doc(text: str) -> Tuple[str, str, str]:
    """(before, generated section, after) of the doc; raises if a marker is missing."""
    try:
        a = text.index(BEGIN)
        b = text.index(END, a) + len(END)
    except ValueError:
        raise SystemExit(f"{DOC}: the hook reference markers are missing; "
                         f"add the lines\n{BEGIN}\n{END}") from None
    if b < len(text) and text[b] == "\n":
        b += 1
    return text[:a], text[a:b], text[b:]


def example_files(text: Optional[str] = None) -> dict:
    """The files the guide spells out: each fenced block preceded by a
    ``<!-- file: PATH -->`` comment.

    The tests write them to a temporary folder, install and run them, so the
    guide's example is known to work exactly as written.

    Parameters
    ----------
    text : str, optional
        The guide; default: read ``docs/plugins.md``.

    Returns
    -------
    dict of str -> str
        Relative path -> file content.
    """
    text = text if text is not None else DOC.read_text(encoding="utf-8")
    pattern = re.compile(r"<!-- file: (\S+) -->\n```[\w-]*\n(.*?)\n```", re.S)
    return {m.group(1): m.group(2) + "\n" for m in pattern.finditer(text)}


def update(doc_path: Path = DOC, check: bool = False) -> bool:
    """Rewrite (or with ``check`` only compare) the generated section.

    Returns
    -------
    bool
        True if the file was already up to date.
    """
    text = doc_path.read_text(encoding="utf-8")
    before, current, after = split_doc(text)
    fresh = render_reference()
    if current == fresh:
        return True
    if not check:
        doc_path.write_text(before + fresh + after, encoding="utf-8")
    return False


def main(argv: Optional[List[str]] = None) -> int:
    """Command line: rewrite the doc, or ``--check`` it (exit 1 when stale)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only check; exit 1 if out of date")
    p.add_argument("--doc", default=str(DOC), help="the Markdown file to update")
    args = p.parse_args(argv)
    ok = update(Path(args.doc), check=args.check)
    if args.check and not ok:
        print(f"{args.doc} is out of date with transcribe/hookspecs.py; run "
              "'python scripts/gen_plugin_docs.py'", file=sys.stderr)
        return 1
    if not ok:
        print(f"updated {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
