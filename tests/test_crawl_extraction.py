"""Extraction quality through the whole crawl, on real pages from ../shared/data/extraction.

The crawl (Scrapy, decoding, trafilatura in a worker, storage) must keep the text quality of
calling trafilatura directly on the same bytes: mean token F1 against the reference text of the
readability test pages within 0.02, and the same share of must/must-not snippets on the
trafilatura evaluation pages.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import trafilatura
from lxml import html as lxml_html
from sqlalchemy import select

from narrative_tracker.crawler.runner import run_crawl
from narrative_tracker.newsweb import NewsWeb, Page
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import Article

from helpers.shared_data import shared_data
from sites.news import rss, write_config

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

TOLERANCE = 0.02


def tokens(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.lower()))


def token_f1(candidate: str, reference: str) -> float:
    ours, theirs = tokens(candidate), tokens(reference)
    common = sum((ours & theirs).values())
    if not common:
        return 0.0
    precision, recall = common / sum(ours.values()), common / sum(theirs.values())
    return 2 * precision * recall / (precision + recall)


def snippet_score(text: str, wanted: list[str], unwanted: list[str]) -> float:
    hits = sum(s in text for s in wanted) + sum(s not in text for s in unwanted)
    return hits / max(1, len(wanted) + len(unwanted))


def crawl_pages(tmp_path: Path, pages: dict[str, bytes]) -> dict[str, str]:
    """Serve ``pages`` (path -> bytes, no charset in the header) behind one feed, crawl, return path -> text."""
    with NewsWeb() as web:
        for path, body in pages.items():
            web.site[path] = Page(body, "text/html")
        web.site["/feed.xml"] = Page(rss([(p, web.url(p), "") for p in pages]), "application/rss+xml")
        catalogue = tmp_path / "sources.toml"
        catalogue.write_text(
            '[[source]]\nslug = "real"\nname = "Real pages"\ngroup = "other"\ncountry = "XX"\nlanguages = ["en"]\n'
            f'feeds = ["{web.url("/feed.xml")}"]\ndomains = ["127.0.0.1"]\n'
        )
        settings = load_settings(
            write_config(
                tmp_path / "home", catalogue, f"sqlite:///{tmp_path / 'db.sqlite'}", max_download_bytes=5_000_000
            )
        )
        stats = run_crawl(settings)
        assert stats["errors"] == {}, stats
        prefix = web.url("")
    db = open_database(settings.database_url)
    try:
        with db.session() as session:
            return {a.url.removeprefix(prefix): a.text for a in session.scalars(select(Article))}
    finally:
        db.dispose()


def test_readability_pages_keep_trafilatura_quality(tmp_path: Path) -> None:
    root = shared_data("extraction", "readability-test-pages", "test", "test-pages")
    folders = sorted(p for p in root.iterdir() if (p / "source.html").exists() and (p / "expected.html").exists())
    pages = {f"/r/{folder.name}.html": (folder / "source.html").read_bytes() for folder in folders}
    stored = crawl_pages(tmp_path, pages)
    assert len(stored) >= len(pages) - 1  # at most one page may be judged "not an article"
    ours, direct = [], []
    for folder in folders:
        path = f"/r/{folder.name}.html"
        if path not in stored:
            continue
        reference = lxml_html.fromstring((folder / "expected.html").read_bytes()).text_content()
        ours.append(token_f1(stored[path], reference))
        direct.append(token_f1(trafilatura.extract(pages[path], url=f"http://x{path}") or "", reference))
    mean_ours, mean_direct = sum(ours) / len(ours), sum(direct) / len(direct)
    assert mean_ours >= mean_direct - TOLERANCE, (mean_ours, mean_direct)


def test_trafilatura_evaluation_pages_keep_their_snippets(tmp_path: Path) -> None:
    base = shared_data("extraction", "trafilatura-eval")
    cases = json.loads((base / "evaldata_subset_with_html_present.json").read_text(encoding="utf-8"))
    files = {url: base / "tests" / "cache" / case["file"] for url, case in cases.items()}
    present = {url: path for url, path in files.items() if path.exists()}
    assert present
    pages = {f"/e/{i}.html": present[url].read_bytes() for i, url in enumerate(present)}
    stored = crawl_pages(tmp_path, pages)
    assert len(stored) >= 0.9 * len(pages)
    ours, direct = [], []
    for i, url in enumerate(present):
        path = f"/e/{i}.html"
        case = cases[url]
        ours.append(snippet_score(stored.get(path, ""), case["with"], case["without"]))
        extracted = trafilatura.extract(pages[path], url=url) or ""
        direct.append(snippet_score(extracted, case["with"], case["without"]))
    assert sum(ours) / len(ours) >= sum(direct) / len(direct) - TOLERANCE
