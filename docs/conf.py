"""Sphinx configuration of the losskit site: ``make docs`` (warnings are errors).

The API pages, the catalog, the CLI reference and the benchmark pages are generated at build time by the local
extension ``_ext/losskit_docs.py`` from the installed sources (``list_losses()``, the argparse parsers,
``benchmarks/results/``); the hand-written pages are Markdown (MyST) and include the README's sections by their
headings instead of copying them.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT / "src"))

import losskit  # noqa: E402

project = "losskit"
author = "the losskit authors"
copyright = "the losskit authors, Apache License 2.0"
release = losskit.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "losskit_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# the docstrings are Google style; "Shape" is losskit's (and torch's) extra section
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = ["Shape"]
napoleon_use_rtype = False

autodoc_typehints = "signature"
autodoc_member_order = "bysource"
add_module_names = False

myst_enable_extensions = ["dollarmath", "colon_fence"]
# README sections keep the README's heading levels (a page may open at "##"), and GitHub's anchors
myst_heading_anchors = 4
suppress_warnings = ["myst.header"]

# every cross-reference must resolve (sphinx-build -n); the ignored targets are outside losskit (torch, numpy and
# the standard library, whose inventories intersphinx would need the network to fetch) or private to it
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"torch(\..*)?"),
    (r"py:class", r"Tensor"),
    (r"py:class", r"(collections\.abc|os|typing|numpy)\..*"),
    (r"py:class", r"LinearCrossEntropyOptions"),  # torch.nn's, imported for type checking only
    # losskit's private modules and names (a leading underscore) have no page by design
    (r"py:.*", r"(losskit(\.\w+)*\.)?_\w+(\..*)?"),
]

html_theme = "furo"
html_title = f"losskit {release}"
# the committed sample lab report (_static/sample-report/) is copied to the site as it is
html_static_path = ["_static"]
html_show_sourcelink = False
