"""The repository stands on its own: no file points outside the clone, and
every document a file names exists.

A user's clone has nothing beside it, so a path that climbs out of the
repository (a sibling checkout, a workspace folder) or a reference to a
document the repository does not have is a defect, in code as in comments.

Checked over the files git tracks (plus new, not ignored ones):
  - no path that leaves the repository to reach a sibling tree;
  - every relative Markdown link resolves;
  - every `NAME.md` named in a file exists in the tree (by path when the
    name has a folder, else by file name).
"""

import os
import re
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

OUTSIDE_PATTERNS = [
    re.compile(r"\.\./+shared\b"),
    re.compile(r"\bshared/testdata\b"),
    re.compile(r"(?<![\w.])/work/(main|shared)\b"),
]

MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MD_NAME = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.md)\b")

SKIP_DIRS = {".git", "node_modules", ".px-stack", "__pycache__"}
SKIP_SUFFIXES = (".mmdb", ".gz", ".png", ".jpg", ".lock")
SKIP_FILES = {"package-lock.json"}
# This file plants the defects it looks for.
SELF = os.path.relpath(os.path.abspath(__file__), REPO)


def tree_files(root):
    """Files of the tree, relative to root: git's list when root is a
    checkout, else a walk that leaves out build output and dependencies."""
    try:
        out = subprocess.run(
            ["git", "-C", root, "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"],
            capture_output=True, check=True, timeout=30).stdout
        files = [f for f in out.decode().split("\0") if f]
        if files:
            return sorted(f for f in files if os.path.isfile(os.path.join(root, f)))
    except (OSError, subprocess.SubprocessError):
        pass
    found = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS
                   and not x.startswith("build")]
        for n in names:
            found.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(found)


def text_files(root):
    for rel in tree_files(root):
        parts = rel.split(os.sep)
        if (SKIP_DIRS.intersection(parts) or rel.endswith(SKIP_SUFFIXES)
                or os.path.basename(rel) in SKIP_FILES or rel == SELF):
            continue
        try:
            with open(os.path.join(root, rel), "rb") as f:
                data = f.read()
        except OSError:
            continue
        if b"\0" in data:
            continue
        yield rel, data.decode("utf-8", errors="replace")


def outside_paths(root):
    """(file:line, text) for each path that leaves the repository."""
    hits = []
    for rel, text in text_files(root):
        for no, line in enumerate(text.splitlines(), 1):
            if any(p.search(line) for p in OUTSIDE_PATTERNS):
                hits.append(("%s:%d" % (rel, no), line.strip()))
    return hits


def missing_docs(root):
    """(file:line, reference) for each link or NAME.md that names nothing."""
    files = tree_files(root)
    have = set(files)
    names = {os.path.basename(f) for f in files}
    hits = []
    for rel, text in text_files(root):
        here = os.path.dirname(rel)
        for no, line in enumerate(text.splitlines(), 1):
            where = "%s:%d" % (rel, no)
            if rel.endswith(".md"):
                for target in MD_LINK.findall(line):
                    if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):
                        continue  # a URL or an anchor in this page
                    path = os.path.normpath(
                        os.path.join(here, target.split("#", 1)[0]))
                    if not os.path.exists(os.path.join(root, path)):
                        hits.append((where, target))
            for name in MD_NAME.findall(line):
                if "/" in name:
                    ok = (os.path.normpath(name) in have
                          or os.path.normpath(os.path.join(here, name)) in have)
                else:
                    ok = name in names
                if not ok:
                    hits.append((where, name))
    return hits


def report(hits):
    return "\n".join("  %s: %s" % h for h in hits[:50])


def test_no_path_outside_the_clone():
    hits = outside_paths(REPO)
    assert not hits, "paths outside the repository:\n" + report(hits)


def test_every_named_document_exists():
    hits = missing_docs(REPO)
    assert not hits, "references to documents that do not exist:\n" + report(hits)


def test_geoip_test_data_is_in_the_repo():
    d = os.path.join(REPO, "tests", "data", "geoip")
    for name in ("GeoIP2-City-Test.mmdb", "GeoLite2-City-Test.mmdb",
                 "GeoLite2-ASN-Test.mmdb", "GeoIP2-City-Test.json",
                 "GeoIP2-City-Test-Broken-Double-Format.mmdb",
                 "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
                 "LICENSE-MIT", "LICENSE-APACHE", "README.md"):
        assert os.path.isfile(os.path.join(d, name)), name


# The checks themselves: a planted defect is found.

@pytest.fixture
def planted(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "real.md").write_text("# real\n")
    return tmp_path


def test_checker_finds_a_sibling_path(planted):
    (planted / "Makefile").write_text(
        "DATA=$(abspath ../shared/testdata/geoip)\n")
    assert [h[0] for h in outside_paths(str(planted))] == ["Makefile:1"]


def test_checker_finds_missing_documents(planted):
    (planted / "README.md").write_text(
        "See [real](docs/real.md), [gone](docs/gone.md) and "
        "[site](https://example.org/x.md).\n")
    (planted / "main.c").write_text(
        "/* the codes of DESIGN.md; docs/real.md */\n")
    hits = sorted(missing_docs(str(planted)))
    assert hits == [("README.md:1", "docs/gone.md"),
                    ("README.md:1", "docs/gone.md"),
                    ("main.c:1", "DESIGN.md")], hits


def test_checker_accepts_a_clean_tree(planted):
    (planted / "README.md").write_text("[real](docs/real.md) and real.md\n")
    assert outside_paths(str(planted)) == []
    assert missing_docs(str(planted)) == []
