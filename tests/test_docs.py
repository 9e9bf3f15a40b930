"""Every theory page and equation label the package cites exists (STYLE.md, "Names and docs").

A module citing ``theory/<name>.md`` needs that file; every label ``(X.n)`` in the module
(``(S.4)``, ``(MF.3b')``, ranges ``(S.2-S.3)`` and ``(FP.1)-(FP.12)``) must be *defined* in one
of the theory pages the module cites: as a heading ``## (X.n) ...`` or in bold ``**(X.n)**``.
Nothing is skipped: a missing page or label is a failure.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rmtchain"
THEORY = ROOT / "theory"

CITE = re.compile(r"theory/([\w.-]+?\.md)")
LABEL = re.compile(r"\(([A-Z]+)\.(\d+[a-z]*'*)(?:\s*[-\u2013]\s*(?:([A-Z]+)\.)?(\d+[a-z]*'*))?\)")
RANGE = re.compile(r"\(([A-Z]+)\.(\d+)\)\s*[-\u2013]\s*\(\1\.(\d+)\)")

MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def cited(text):
    """(set of cited theory files, set of cited labels "X.n") in a module's source."""
    files = set(CITE.findall(text))
    labels = set()
    for m in LABEL.finditer(text):
        prefix, first, prefix2, last = m.groups()
        labels.add(f"{prefix}.{first}")
        if last is not None:
            labels.add(f"{prefix2 or prefix}.{last}")
            if first.isdigit() and last.isdigit():
                labels.update(f"{prefix}.{i}" for i in range(int(first), int(last) + 1))
    for m in RANGE.finditer(text):
        prefix, a, b = m.groups()
        labels.update(f"{prefix}.{i}" for i in range(int(a), int(b) + 1))
    return files, labels


def defined_labels(page):
    """Labels a theory page defines: in a heading line or in bold."""
    out = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            out.update(f"{a}.{b}" for a, b in re.findall(r"\(([A-Z]+)\.(\d+[a-z]*'*)\)", line))
        out.update(f"{a}.{b}" for a, b in re.findall(r"\*\*\(([A-Z]+)\.(\d+[a-z]*'*)\)\*\*", line))
    return out


def test_parser_on_examples():
    files, labels = cited("see theory/sampling.md (S.2-S.3), (S.4) and theory/free.md "
                          "(FP.1)-(FP.3); (MF.3b')")
    assert files == {"sampling.md", "free.md"}
    assert labels == {"S.2", "S.3", "S.4", "FP.1", "FP.2", "FP.3", "MF.3b'"}


def test_some_module_cites_theory():
    assert any(cited(p.read_text(encoding="utf-8"))[0] for p in MODULES)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_theory_pages_and_labels_exist(module):
    files, labels = cited(module.read_text(encoding="utf-8"))
    missing_files = sorted(f for f in files if not (THEORY / f).is_file())
    assert not missing_files, f"{module.name} cites missing theory pages {missing_files}"
    if labels:
        assert files, f"{module.name} cites labels {sorted(labels)} but no theory page"
        defined = set().union(*(defined_labels(THEORY / f) for f in files))
        missing = sorted(labels - defined)
        assert not missing, (f"{module.name} cites {missing}, not defined in "
                             f"{sorted(files)} (as '## (X.n)' or '**(X.n)**')")
