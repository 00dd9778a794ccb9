"""Hand-written pages: every ``docs/pages/NAME.html`` is an HTML body fragment whose first
``<h1>`` is its title; it becomes ``NAME.html`` on the site, linked from the navigation."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from .common import DOCS, FIXED_PAGES, BuildError

PAGES_DIR = DOCS / "pages"

_FIRST_H1 = re.compile(r"<h1\b[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_WHOLE_DOCUMENT = re.compile(r"<(!DOCTYPE|html|head|body)\b", re.IGNORECASE)


@dataclass(frozen=True)
class StaticPage:
    name: str   # file stem: NAME.html on the site
    title: str  # the text of the fragment's first <h1>
    body: str   # the fragment, as written


def static_pages(pages_dir: Path = PAGES_DIR, taken: tuple[str, ...] = ()) -> list[StaticPage]:
    """The fragments in ``pages_dir``, sorted by name. ``taken``: page names already used
    (the spec functions); a fragment may not reuse one, nor a fixed page's name."""
    pages = []
    for path in sorted(pages_dir.glob("*.html")) if pages_dir.is_dir() else []:
        body = path.read_text(encoding="utf-8")
        if _WHOLE_DOCUMENT.search(body):
            raise BuildError(f"{path} must be a body fragment: the builder adds <html>, <head> and the navigation")
        heading = _FIRST_H1.search(body)
        if heading is None:
            raise BuildError(f"{path} has no <h1>: its first <h1> is the page title")
        title = " ".join(html.unescape(_TAG.sub("", heading.group(1))).split())
        if path.stem in FIXED_PAGES or path.stem in taken:
            raise BuildError(f"{path} collides with the site page {path.stem}.html")
        pages.append(StaticPage(path.stem, title, body))
    return pages
