"""The README stays short, its links and the docs pages' links resolve, and every docs page is
reachable from the README. Reads files only: no database, no services."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(p.name for p in DOCS.glob("*.md"))  # every page, so none is orphaned
# [text](target) and ![alt](target); a target ends at whitespace or ")" (an optional title
# after whitespace is ignored). Fenced code blocks are skipped: they hold no links.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?[^)]*\)")
FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1", re.MULTILINE | re.DOTALL)


def _links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return LINK.findall(text)


def _relative(target: str) -> str | None:
    """The file part of a relative link, or None for links that are not to a local file."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
        return None
    path = target.split("#", 1)[0].split("?", 1)[0]
    return path or None  # "#anchor" alone points into the same page


def _broken(path: Path) -> list[str]:
    out = []
    for target in _links(path):
        rel = _relative(target)
        if rel is not None and not (path.parent / rel).exists():
            out.append(f"{path.relative_to(ROOT)}: {target}")
    return out


def test_it_keeps_the_readme_under_200_lines():
    lines = README.read_text(encoding="utf-8").splitlines()

    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/"


def test_it_resolves_every_relative_link_in_the_readme():
    assert _links(README), "no links found: the link pattern is broken"
    assert _broken(README) == []


def test_it_resolves_every_relative_link_in_the_docs_pages():
    pages = sorted(DOCS.glob("*.md"))
    assert pages

    broken = [problem for page in pages for problem in _broken(page)]

    assert broken == []


def test_it_has_every_docs_page_and_links_each_from_the_readme():
    linked = {
        (README.parent / rel).resolve() for rel in filter(None, map(_relative, _links(README)))
    }

    for name in PAGES:
        page = DOCS / name
        assert page.is_file(), f"docs/{name} is missing"
        assert page.resolve() in linked, f"README.md does not link docs/{name}"


def test_it_links_every_docs_page_back_to_the_readme():
    for name in PAGES:
        targets = {_relative(t) for t in _links(DOCS / name)}

        assert "../README.md" in targets, f"docs/{name} does not link back to the README"


def test_it_finds_broken_links_and_ignores_web_links(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("x")
    page.write_text(
        "[ok](there.md#part) [gone](missing.md) [web](https://example.com/x.md) "
        "[anchor](#top) ![img](pics/none.png)\n```\n[in code](nowhere.md)\n```\n"
    )

    targets = [t for t in map(_relative, _links(page)) if t]
    missing = [t for t in targets if not (tmp_path / t).exists()]

    assert missing == ["missing.md", "pics/none.png"]
