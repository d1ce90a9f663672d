#!/usr/bin/env python3
"""Checks the links of the docs book (docs/src/**/*.md) and of the top-level README.md and
BENCHMARKS.md: every relative link must name a file that exists, and every #anchor a
heading of the target page (slugged as mdBook does). A book page may not link outside
docs/src (mdBook would not copy the target). External http(s) links are listed, not
fetched: CI has no network. Exits 1 when a link is broken.

Usage: python3 docs/check_links.py [repository root]
"""
import re
import sys
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
BOOK = ROOT / "docs" / "src"

INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
HREF = re.compile(r"""href=["']([^"']+)["']""")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text):
    """(line number, line, line with code spans blanked) outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.lstrip()
        marker = re.match(r"(`{3,}|~{3,})", stripped)
        if marker:
            if fence is None:
                fence = marker.group(1)[0] * len(marker.group(1))
                continue
            if stripped.startswith(fence):
                fence = None
                continue
        if fence is None:
            yield number, line, re.sub(r"(`+)(.+?)\1", lambda m: "`" + " " * len(m.group(2)) + "`", line)


def slug(heading):
    """mdBook's heading id: inline markup dropped, then alphanumerics, `_` and `-` kept
    (lowercased), white space turned into `-`, everything else dropped."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = text.replace("`", "").replace("*", "")
    out = []
    for ch in text:
        if ch.isalnum() or ch in "_-":
            out.append(ch.lower())
        elif ch.isspace():
            out.append("-")
    return "".join(out)


HTML_IDS = re.compile(r"""\bid=["']([^"']+)["']""")


def anchors(path, cache={}):
    """The ids mdBook gives the page's headings (a repeated one gets -1, -2, …), and
    explicit HTML ids."""
    if path not in cache:
        seen, ids = {}, set()
        text = path.read_text(encoding="utf-8")
        for _, line, _ in prose_lines(text):
            m = HEADING.match(line)
            if not m:
                continue
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            ids.add(base if n == 0 else f"{base}-{n}")
        ids.update(HTML_IDS.findall(text))
        cache[path] = ids
    return cache[path]


def links(path):
    for number, raw, line in prose_lines(path.read_text(encoding="utf-8")):
        for pattern in (INLINE, AUTOLINK, HREF):
            for m in pattern.finditer(line):
                # Positions match the raw line: code spans were blanked, not shortened.
                yield number, raw[m.start(1):m.end(1)]
        m = REFDEF.match(line)
        if m:
            yield number, m.group(1)


def check(path, broken, external):
    in_book = BOOK in path.parents
    for number, target in links(path):
        where = f"{path.relative_to(ROOT)}:{number}"
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            if target.startswith(("http://", "https://")):
                external.append(f"{where}: {target}")
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{where}: {target} (no such file)")
            continue
        if in_book and BOOK not in dest.parents and dest != BOOK:
            broken.append(f"{where}: {target} (outside docs/src: mdBook does not copy it)")
            continue
        if anchor:
            if dest.is_dir() or dest.suffix != ".md":
                broken.append(f"{where}: {target} (an anchor into a file that is not markdown)")
            elif anchor not in anchors(dest):
                broken.append(f"{where}: {target} (no heading with the id #{anchor} in {dest.relative_to(ROOT)})")


def main():
    pages = sorted(BOOK.rglob("*.md")) + [p for p in (ROOT / "README.md", ROOT / "BENCHMARKS.md") if p.exists()]
    broken, external = [], []
    for page in pages:
        check(page, broken, external)
    print(f"checked {len(pages)} pages")
    if external:
        print(f"{len(external)} external links (not fetched):")
        for line in external:
            print(f"  {line}")
    if broken:
        print(f"{len(broken)} broken links:")
        for line in broken:
            print(f"  {line}")
        return 1
    print("no broken links")
    return 0


if __name__ == "__main__":
    sys.exit(main())
