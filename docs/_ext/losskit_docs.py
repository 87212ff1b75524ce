"""Pages generated from the sources at build time, and the Module pages' shared documentation.

At ``builder-inited`` this writes ``docs/_generated/`` (not in git):

- ``catalog.md``: the table of :func:`losskit.list_losses`, each row linked to its API entry;
- ``losses/<family>.rst``: one page per family with every loss of the catalog (``autofunction`` of the
  functional, the canonical documentation, then ``autoclass`` of the Module), followed by the other public
  functions of the family's ``losskit.functional`` files; ``losses/other.rst`` for functional files of no family
  (miners, distances). A loss added to a family file and to the catalog appears with no edit here;
- ``cli.md``: every subcommand's ``--help``, from the argparse parsers;
- ``benchmarks/``: one page per ``benchmarks/results/<version>/*.md`` with its figure, and the guard table;
- ``sample-report.md``: three figures of the committed lab report ``docs/_static/sample-report/report.html``,
  decoded from the report itself, with their captions and the command, date and versions of its
  ``results.json`` (the report is copied to the site as it is and linked).

At ``autodoc-process-docstring`` a Module's short docstring gains the Args and Shape sections of its functional,
read from the functional's docstring at build time (the options go to the constructor, the tensors to
``forward``), so the Module page shows them without a copy in the source.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pkgutil
from collections import defaultdict
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GEN = DOCS / "_generated"
RESULTS = ROOT / "benchmarks" / "results"
SAMPLE = DOCS / "_static" / "sample-report"
# the report's figures shown inline on the lab page, in this order
SAMPLE_FIGURES = ("metrics.png", "confusion.png", "curves.png")

# where a family's page opens: one sentence above the entries (the family's own docs are its docstrings)
FAMILY_TITLES = {
    "classification": "Classification",
    "regression": "Regression",
    "segmentation": "Segmentation",
    "metric": "Metric learning",
}


def _write(path: Path, text: str) -> None:
    """Write only when the content changed, so an incremental build does not reread every page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def _functional_modules() -> list[str]:
    import losskit.functional as LF

    return sorted(
        f"losskit.functional.{m.name}" for m in pkgutil.iter_modules(LF.__path__) if not m.name.startswith("_")
    )


def _public_functions(modname: str) -> list[str]:
    """The module's ``__all__`` functions, then the other functions it defines without a leading underscore
    (helpers such as ``ndcg`` or ``log_partition`` that the losses' documentation refers to)."""
    mod = importlib.import_module(modname)
    names = [n for n in getattr(mod, "__all__", []) if inspect.isfunction(getattr(mod, n, None))]
    names += [
        n
        for n, obj in vars(mod).items()
        if inspect.isfunction(obj) and not n.startswith("_") and obj.__module__ == modname and n not in names
    ]
    return names


def generate_losses() -> list[str]:
    """The family pages and the catalog; returns the family names in order."""
    import losskit as lk

    rows = lk.list_losses()
    by_family: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_family[row.family].append(row)
    documented: set[str] = {r.functional for r in rows}
    # the functional files each family's losses live in, for the helpers beside them
    family_modules: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        fn = getattr(lk.functional, row.functional)
        mod = fn.__module__
        if mod not in family_modules[row.family]:
            family_modules[row.family].append(mod)
    owner: dict[str, str] = {}
    for family in sorted(family_modules):
        for mod in family_modules[family]:
            owner.setdefault(mod, family)

    helpers: dict[str, list[tuple[str, str]]] = defaultdict(list)  # family -> (module, name)
    orphans: dict[str, list[str]] = defaultdict(list)  # module -> names
    for modname in _functional_modules():
        for name in _public_functions(modname):
            fn = getattr(importlib.import_module(modname), name)
            home = fn.__module__
            if name in documented or not home.startswith("losskit.functional.") or home != modname:
                continue
            documented.add(name)
            if modname in owner:
                helpers[owner[modname]].append((modname, name))
            else:
                orphans[modname].append(name)

    families = sorted(by_family)
    for family in families:
        title = FAMILY_TITLES.get(family, family.capitalize())
        out = [".. This page is generated by docs/_ext/losskit_docs.py from losskit.list_losses(); do not edit.", ""]
        out.append(_title(f"{title} losses"))
        # the functional files of this family are declared here (the target of :mod: references), each once
        out += [f".. py:module:: {m}" for m in family_modules[family] if owner[m] == family] + [""]
        mods = ", ".join(f":mod:`{m}`" for m in family_modules[family])
        out.append(
            f"Every loss of the ``{family}`` family: the function in :mod:`losskit.functional` (the canonical "
            f"documentation: math, arguments, shapes, errors, references and a runnable example) and the "
            f"``torch.nn.Module`` in :mod:`losskit`, whose ``forward`` is one call to it. Source: {mods}.\n"
        )
        for row in by_family[family]:
            out.append(_title(f"{row.name} / {row.functional}", "-"))
            out.append(f".. autofunction:: losskit.functional.{row.functional}\n")
            out.append(f".. autoclass:: losskit.{row.name}\n")
        if helpers[family]:
            out.append(_title("Helpers", "-"))
            out.append("Public functions of the same files that are not losses of the catalog.\n")
            for modname, name in helpers[family]:
                out.append(f".. autofunction:: {modname}.{name}\n")
        _write(GEN / "losses" / f"{family}.rst", "\n".join(out))

    out = [".. Generated by docs/_ext/losskit_docs.py; do not edit.", "", _title("Other functional modules")]
    out.append("Public functions of :mod:`losskit.functional` files that hold no loss of the catalog.\n")
    if not orphans:
        out.append("(none)\n")
    for modname in sorted(orphans):
        out.append(_title(f"``{modname}``", "-"))
        out.append(f".. py:module:: {modname}\n")
        for name in orphans[modname]:
            out.append(f".. autofunction:: {modname}.{name}\n")
    _write(GEN / "losses" / "other.rst", "\n".join(out))

    lines = [
        "<!-- Generated by docs/_ext/losskit_docs.py from losskit.list_losses(); do not edit. -->",
        "",
        "# Loss catalog",
        "",
        # the package and its functional namespace, declared once for :mod: references
        "```{eval-rst}",
        ".. py:module:: losskit",
        ".. py:module:: losskit.functional",
        "```",
        "",
        f"{len(rows)} losses in {len(families)} families, as `lk.list_losses()` and `losskit losses` list them "
        "(generated from the installed package when the site is built).",
        "",
        "| family | Module | functional | what it is |",
        "|---|---|---|---|",
    ]
    for r in rows:
        desc = r.summary.replace("|", "\\|")
        lines.append(
            f"| [{r.family}](losses/{r.family}.rst) | {{py:class}}`~losskit.{r.name}` | "
            f"{{py:func}}`~losskit.functional.{r.functional}` | {desc} |"
        )
    _write(GEN / "catalog.md", "\n".join(lines) + "\n")
    return families


def generate_cli() -> None:
    """Every subcommand's ``--help`` as printed (80 columns)."""
    import os

    from losskit.cli import build_parser

    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = ["<!-- Generated by docs/_ext/losskit_docs.py from the argparse parsers; do not edit. -->", ""]
    lines += ["## `losskit`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, p in sub.choices.items():
        lines += [f"## `losskit {name}`", "", "```text", p.format_help().rstrip(), "```", ""]
    _write(GEN / "cli.md", "\n".join(lines))


def generate_benchmarks() -> None:
    """One page per result file of every version, with its figure; the guard-layer table from guard.json."""
    pages = []
    for version_dir in sorted(p for p in RESULTS.iterdir() if p.is_dir() and p.name != "local"):
        version = version_dir.name
        guard = version_dir / "guard.json"
        if guard.exists():
            data = json.loads(guard.read_text())
            stem = f"{version}-guard"
            text = [
                f"# Guard-layer overhead ({version})",
                "",
                f"`losskit bench-guard`, forward+backward, guard `\"first\"` (steady state) against `\"off\"`; torch "
                f"{data.get('torch')}, losskit {data.get('losskit')}, {data.get('threads')} threads, Python "
                f"{data.get('python')}. Source: `benchmarks/results/{version}/guard.json`.",
                "",
                "| loss | size | guard off (us) | guard on (us) | overhead (us) | overhead |",
                "|---|---|---|---|---|---|",
            ]
            for r in data.get("rows", []):
                text.append(
                    f"| `{r['name']}` | {r['size']} | {r['unguarded_us']:.0f} | {r['guarded_us']:.0f} | "
                    f"{r['overhead_us']:.1f} | {r['overhead_pct']:+.1f}% |"
                )
            _write(GEN / "benchmarks" / f"{stem}.md", "\n".join(text) + "\n")
            pages.append(stem)
        for md in sorted(version_dir.glob("*.md")):
            stem = f"{version}-{md.stem}"
            rel = Path("..", "..", "..", md.relative_to(ROOT)).as_posix()
            text = [f"<!-- Generated from benchmarks/results/{version}/{md.name}; do not edit. -->", ""]
            text += ["```{include} " + rel, "```", ""]
            png = md.with_suffix(".png")
            if png.exists():
                img = Path("..", "..", "..", png.relative_to(ROOT)).as_posix()
                alt = f":alt: {md.stem} benchmark, losskit {version}"
                text += ["## Figure", "", "```{image} " + img, alt, "```", ""]
            _write(GEN / "benchmarks" / f"{stem}.md", "\n".join(text))
            pages.append(stem)
    toc = ["<!-- Generated by docs/_ext/losskit_docs.py; do not edit. -->", "", "```{toctree}", ":maxdepth: 1", ""]
    toc += [f"/_generated/benchmarks/{p}" for p in pages] + ["```", ""]
    _write(GEN / "benchmarks.md", "\n".join(toc))


def generate_sample_report() -> None:
    """The lab page's sample report: figures decoded from ``report.html`` (no PNG is committed twice)."""
    import base64
    import html
    import re

    report = (SAMPLE / "report.html").read_text(encoding="utf-8")
    results = json.loads((SAMPLE / "results.json").read_text(encoding="utf-8"))
    prov = results["provenance"]
    versions = prov["versions"]
    day = prov["started_utc"][:10]
    made = (
        f"Produced by `{prov['command']}` on {day} (losskit {versions['losskit']}, torch {versions['torch']}, "
        f"{prov['machine']['training_threads']} CPU thread)."
    )
    figures = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(
            r"<figure><img alt='([^']+)' src='data:image/png;base64,([^']+)'[^>]*>\s*"
            r"(?:<figcaption>(.*?)</figcaption>)?",
            report,
            re.S,
        )
    }
    lines = [
        "<!-- Generated by docs/_ext/losskit_docs.py from docs/_static/sample-report/; do not edit. -->",
        "",
        # raw links: the report is a static file, not a page Sphinx resolves; relative to the site's root,
        # where docs/lab.md (which includes this file) is built
        f'The <a href="_static/sample-report/report.html">full report</a> (one self-contained HTML file; '
        f'<a href="_static/sample-report/results.json">results.json</a> beside it) of a small real run. {made} '
        f"Its verdict: *{results['verdict']}*",
        "",
    ]
    for name in SAMPLE_FIGURES:
        if name not in figures:
            raise RuntimeError(f"losskit_docs: {SAMPLE / 'report.html'} has no figure {name!r}; regenerate it")
        data, caption = figures[name]
        _write_bytes(GEN / "sample-report" / name, base64.b64decode(data))
        caption = " ".join(html.unescape(re.sub(r"<[^>]+>", "", caption or "")).split())
        lines += [
            f"```{{figure}} /_generated/sample-report/{name}",
            f":alt: {name} of the sample lab report",
            "",
            f"{caption} {made}",
            "```",
            "",
        ]
    _write(GEN / "sample-report.md", "\n".join(lines))


def _sections(doc: str, names: tuple[str, ...]) -> list[str]:
    """The Google-style sections ``names`` of a docstring, header lines included, dedented."""
    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    keep = False
    for line in lines:
        if line and not line[0].isspace() and line.rstrip().endswith(":") and " " not in line.strip()[:-1]:
            keep = line.strip()[:-1] in names
        elif line and not line[0].isspace():
            keep = False
        if keep:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return out


def module_docstring(app, what, name, obj, options, lines) -> None:
    """Append the functional's Args and Shape to a losskit Module's docstring (before napoleon reads it)."""
    if what != "class":
        return
    from losskit.modules._base import Loss

    if not (isinstance(obj, type) and issubclass(obj, Loss)) or obj.functional is None:
        return
    fn = obj.functional
    doc = getattr(fn, "__doc__", None)
    if not doc:
        return
    fname = f"{fn.__module__}.{fn.__name__}"
    public = f"losskit.functional.{fn.__name__}"
    import losskit.functional as LF

    target = public if getattr(LF, fn.__name__, None) is fn else fname
    shared = _sections(doc, ("Args", "Shape"))
    if not shared:
        return
    lines += [
        "",
        f"The options and inputs of :func:`{target}` (read from its documentation when this page was built): the "
        "tensor options and keyword options go to the constructor, the tensors to ``forward``.",
        "",
    ]
    lines += shared
    lines.append("")


def resolve_short_name(app, env, node, contnode):
    """Resolve a Python reference that names a losskit object by its short name (``:func:`dice_loss``` in a
    docstring written for ``help()``) to the one documented object of that name, as a ``.dice_loss`` reference
    would; a name documented twice, or not at all, stays unresolved (and nitpicky reports it). A losskit
    submodule without a page resolves to its nearest documented package."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    domain = env.get_domain("py")
    if node.get("reftype") == "mod" and target.startswith("losskit."):
        # a submodule without its own page: the page of the nearest documented package (losskit.lab.train ->
        # losskit.lab, losskit.fused.focal -> losskit.fused)
        parent = target
        while "." in parent:
            parent = parent.rsplit(".", 1)[0]
            if parent in domain.modules:
                return domain.resolve_xref(env, node["refdoc"], app.builder, "mod", parent, node, contnode)
        return None
    short = target.rsplit(".", 1)[-1]
    if not short or (target != short and not target.startswith("losskit.")):
        return None
    # an object autodoc also registers under its defining module (``:canonical:``) counts once
    found = [
        name
        for name, entry in domain.objects.items()
        if name.rsplit(".", 1)[-1] == short and name.startswith("losskit") and not entry.aliased
    ]
    if len(found) != 1:
        return None
    node["reftarget"] = found[0]
    node["refspecific"] = False
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], found[0], node, contnode)


def _on_builder_inited(app) -> None:
    GEN.mkdir(exist_ok=True)
    generate_losses()
    generate_cli()
    generate_benchmarks()
    generate_sample_report()


def setup(app) -> dict[str, Any]:
    app.connect("builder-inited", _on_builder_inited)
    # before sphinx.ext.napoleon (priority 500), which turns the Google sections into fields
    app.connect("autodoc-process-docstring", module_docstring, priority=400)
    app.connect("missing-reference", resolve_short_name)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


__all__ = [
    "generate_benchmarks",
    "generate_cli",
    "generate_losses",
    "generate_sample_report",
    "module_docstring",
    "resolve_short_name",
    "setup",
]
