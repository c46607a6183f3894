"""Issue 13, item 4: sitemap index children only on the source's domains, capped per index."""

from __future__ import annotations

from pathlib import Path

from narrative_tracker.crawler.runner import run_crawl
from narrative_tracker.crawler.spiders.news import MAX_SITEMAP_CHILDREN
from narrative_tracker.newsweb import NewsWeb, Page
from narrative_tracker.settings import load_settings

from sites.news import Site, write_catalogue, write_config

URLSET = b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>'


def _index(locations: list[str]) -> bytes:
    entries = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locations)
    return (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{entries}</sitemapindex>"
    ).encode()


def test_an_index_of_many_children_elsewhere_fetches_only_a_capped_few_on_the_domain(tmp_path: Path) -> None:
    on_domain, elsewhere = 4 * MAX_SITEMAP_CHILDREN, 300
    with NewsWeb() as web:
        web.site["/robots.txt"] = Page(b"User-agent: *\n", "text/plain")
        children = [web.url(f"/maps/c{i}.xml") for i in range(on_domain)]
        # "localhost" reaches the same server but is not one of the source's domains.
        others = [web.url(f"/other/c{i}.xml", host="localhost") for i in range(elsewhere)]
        for i in range(on_domain):
            web.site[f"/maps/c{i}.xml"] = Page(URLSET, "application/xml")
        web.site["/maps/index.xml"] = Page(_index(others + children + ["file:///etc/passwd"]), "application/xml")
        site = Site(web, extra={"maps": {"sitemaps": [web.url("/maps/index.xml")]}})
        catalogue = write_catalogue(tmp_path / "sources.toml", site)
        settings = load_settings(write_config(tmp_path / "home", catalogue, f"sqlite:///{tmp_path / 'db.sqlite'}"))

        stats = run_crawl(settings, timeout=120)

        requested = [r.path for r in web.requests if r.path.startswith(("/maps/c", "/other/"))]
    assert not [p for p in requested if p.startswith("/other/")]
    assert len(requested) == MAX_SITEMAP_CHILDREN
    assert stats["skipped"]["sitemap-off-domain"] == elsewhere + 1
    assert stats["skipped"]["sitemap-children-capped"] == on_domain - MAX_SITEMAP_CHILDREN
    assert not stats["timed_out"]
