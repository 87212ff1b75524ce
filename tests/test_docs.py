"""The code on the documentation site runs: every ``python`` block of the hand-written pages in ``docs/``.

Blocks written as a doctest (``>>>`` lines) are run by :mod:`doctest` with pytest's option flags, so the printed
output is checked; other ``python`` blocks are executed. README sections the site includes are run by
``tests/test_readme.py``, and the docstrings' examples by ``--doctest-modules``. The site's build itself is
``make docs`` in CI (about 20 s), not a test.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _blocks() -> list[tuple[str, str]]:
    out = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        blocks = re.findall(r"(<!-- docs-test: skip[^>]*-->\n)?```(?:python|pycon)\n(.*?)```", text, flags=re.S)
        for k, (skip, code) in enumerate(blocks):
            if not skip:  # a fragment marked "<!-- docs-test: skip (why) -->" on the line above the fence
                out.append((f"{page.name}[{k}]", code))
    return out


def test_docs_have_examples():
    assert len(_blocks()) >= 3


@pytest.mark.skipif(not DOCS.is_dir(), reason="no docs/ beside the tests")
@pytest.mark.parametrize(("name", "code"), _blocks(), ids=[n for n, _ in _blocks()])
def test_docs_block_runs(name: str, code: str, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if ">>>" in code:
        test = doctest.DocTestParser().get_doctest(code, {"__name__": "__docs__"}, name, name, 0)
        runner = doctest.DocTestRunner(optionflags=FLAGS)
        runner.run(test)
        assert runner.summarize(verbose=False).failed == 0, f"doctest of {name} failed (output above)"
    else:
        exec(compile(code, name, "exec"), {"__name__": "__docs__"})
