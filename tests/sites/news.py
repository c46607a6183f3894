"""The fixture news web of the crawler tests: outlets with feeds, faults and copies, and what a crawl must find.

    web = NewsWeb().start()
    site = build_site(web)          # fills web.site, returns the expectations
    write_catalogue(path, site)     # a sources catalogue pointing at it

Outlets (all on 127.0.0.1; the host name "localhost" reaches the same server but is off-domain):

- ``west`` (RSS 2.0): an English article with nav, comments and footer; the same link with
  tracking parameters; a 404; a 500; a slow page; a redirect chain to a syndicated copy of the
  wire story; a robots-disallowed page; an off-domain link; a redirect to an off-domain page;
  an oversized page; a page with too little text; a non-HTML file.
- ``wire`` (Atom): the original wire story.
- ``rewrite`` (RDF 1.0): a light rewrite of the wire story and a different story on the subject.
- ``fr`` (RSS, gzip): a French article.
- ``ru`` (RSS): a windows-1251 page declared in the header only, and a KOI8-R page declared nowhere.
- ``broken`` (truncated RSS) and ``down`` (a feed answering 500).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

from narrative_tracker.newsweb import NewsWeb, Page

from sites import texts

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BOILERPLATE_NAV = "Home | World | Politics | Business | Sport | Culture | Subscribe now"
BOILERPLATE_COMMENT = "Great article, thanks! Totally disagree with this, fake news everywhere."
BOILERPLATE_FOOTER = "Copyright Example Media Group. All rights reserved. Privacy policy. Cookie settings."


def article_html(title: str, paragraphs: list[str], *, lang: str | None = "en", charset_meta: str | None = None) -> str:
    """An article page with the boilerplate real sites wrap around the text."""
    lang_attr = f' lang="{lang}"' if lang else ""
    meta = f'<meta charset="{charset_meta}">' if charset_meta else ""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    nav = "".join(f"<li><a href=/s{i}>{w}</a></li>" for i, w in enumerate(BOILERPLATE_NAV.split(" | ")))
    return (
        f"<!DOCTYPE html><html{lang_attr}><head>{meta}<title>{escape(title)}</title></head><body>"
        f"<header><nav><ul>{nav}</ul></nav></header>"
        f"<main><article><h1>{escape(title)}</h1>{body}</article>"
        f'<section id="comments" class="comments"><h2>Comments</h2>'
        f'<div class="comment"><p>{BOILERPLATE_COMMENT}</p></div></section></main>'
        f"<footer><p>{BOILERPLATE_FOOTER}</p></footer></body></html>"
    )


def rss(items: list[tuple[str, str, str]], *, title: str = "Feed") -> bytes:
    """RSS 2.0 with (title, link, description) items, newest first, an hour apart."""
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link><guid>{escape(link)}</guid>"
        f"<description>{escape(d)}</description><pubDate>{format_datetime(NOW - timedelta(hours=i))}</pubDate></item>"
        for i, (t, link, d) in enumerate(items)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://example.org/</link><description>d</description>{body}</channel></rss>"
    ).encode()


def atom(items: list[tuple[str, str]]) -> bytes:
    entries = "".join(
        f'<entry><title>{escape(t)}</title><link href="{escape(link)}"/><id>{escape(link)}</id>'
        f"<updated>{(NOW - timedelta(hours=i)).isoformat()}</updated></entry>"
        for i, (t, link) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Wire</title><id>urn:wire</id><updated>{NOW.isoformat()}</updated>{entries}</feed>"
    ).encode()


def rdf(items: list[tuple[str, str]]) -> bytes:
    resources = "".join(f'<rdf:li rdf:resource="{escape(link)}"/>' for _, link in items)
    entries = "".join(
        f'<item rdf:about="{escape(link)}"><title>{escape(t)}</title><link>{escape(link)}</link>'
        f"<dc:date>{(NOW - timedelta(hours=i)).isoformat()}</dc:date></item>"
        for i, (t, link) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<channel rdf:about="urn:rw"><title>Rewrite</title><link>http://example.org/</link>'
        f"<description>d</description><items><rdf:Seq>{resources}</rdf:Seq></items></channel>{entries}</rdf:RDF>"
    ).encode()


@dataclass
class Site:
    """What the fixture site holds, for assertions."""

    web: NewsWeb
    #: source slug -> feed URL
    feeds: dict[str, str] = field(default_factory=dict)
    #: source slug -> catalogue fields other than feeds (sitemaps, listing)
    extra: dict[str, dict[str, object]] = field(default_factory=dict)
    #: path -> expected (title, language) of every article a crawl must store
    articles: dict[str, tuple[str, str]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.web.url(path)


#: Largest page the tests' crawler settings accept.
TEST_MAX_BYTES = 300_000
#: Seconds the slow page waits (the tests' download_timeout is shorter).
SLOW_DELAY = 3.0


def build_site(web: NewsWeb) -> Site:
    site = Site(web)
    u = web.url
    pages = web.site
    pages["/robots.txt"] = Page(b"User-agent: *\nDisallow: /private/\n", "text/plain")

    # wire: the original story (Atom)
    pages["/wire/story.html"] = Page(article_html(texts.WIRE_TITLE, texts.WIRE).encode())
    pages["/wire/atom.xml"] = Page(atom([(texts.WIRE_TITLE, u("/wire/story.html"))]), "application/atom+xml")
    site.feeds["wire"] = u("/wire/atom.xml")
    site.articles["/wire/story.html"] = (texts.WIRE_TITLE, "en")

    # west: one good article, a syndicated copy behind a redirect chain, and every fault
    syndicated = ["(Wire) -", *texts.WIRE, "Reporting by the wire desk; editing by the night editor."]
    pages["/west/a1.html"] = Page(article_html(texts.WEST_TITLE, texts.WEST).encode())
    pages["/west/old-link.html"] = Page(redirect_to="/west/moved.html")
    pages["/west/moved.html"] = Page(status=302, redirect_to=u("/west/wire-copy.html"))
    pages["/west/wire-copy.html"] = Page(article_html(texts.WIRE_TITLE, syndicated).encode())
    pages["/west/missing.html"] = Page(b"gone", status=404)
    pages["/west/error.html"] = Page(b"oops", status=500)
    pages["/west/slow.html"] = Page(article_html("Slow", texts.WEST).encode(), delay=SLOW_DELAY)
    pages["/private/secret.html"] = Page(article_html("Secret", texts.WEST).encode())
    pages["/west/away.html"] = Page(redirect_to=web.url("/west/a1.html", host="localhost"))
    filler = "<p>" + ("padding " * 1000) + "</p>"
    pages["/west/huge.html"] = Page(
        article_html("Huge", texts.WEST).replace("</article>", filler * 40 + "</article>").encode()
    )
    pages["/west/gallery.html"] = Page(article_html("Gallery", ["Photos of the week."]).encode())
    pages["/west/report.pdf"] = Page(b"%PDF-1.4 not html", "application/pdf")
    west_links = [
        (texts.WEST_TITLE, "/west/a1.html?utm_source=rss&utm_medium=feed"),
        (texts.WEST_TITLE, "/west/a1.html"),
        (texts.WIRE_TITLE, "/west/old-link.html"),
        ("Missing", "/west/missing.html"),
        ("Error", "/west/error.html"),
        ("Slow", "/west/slow.html"),
        ("Secret", "/private/secret.html"),
        ("Away", "/west/away.html"),
        ("Huge", "/west/huge.html"),
        ("Gallery", "/west/gallery.html"),
        ("Report", "/west/report.pdf"),
    ]
    items = [(t, u(p), "") for t, p in west_links]
    items.append(("Elsewhere", web.url("/west/elsewhere.html", host="localhost"), ""))
    items.append(("Trap", u("/west/trap.html?" + "page=1&" * 400), ""))  # a link too long to follow
    pages["/west/rss.xml"] = Page(rss(items), "application/rss+xml; charset=utf-8")
    site.feeds["west"] = u("/west/rss.xml")
    site.articles["/west/a1.html"] = (texts.WEST_TITLE, "en")
    site.articles["/west/old-link.html"] = (texts.WIRE_TITLE, "en")

    # rewrite: a light rewrite of the wire story and a different story (RDF)
    pages["/rw/story.html"] = Page(article_html(texts.REWRITE_TITLE, texts.REWRITE).encode())
    pages["/rw/other.html"] = Page(article_html(texts.OTHER_TITLE, texts.OTHER).encode())
    pages["/rw/rdf.xml"] = Page(
        rdf([(texts.REWRITE_TITLE, u("/rw/story.html")), (texts.OTHER_TITLE, u("/rw/other.html"))]),
        "application/rdf+xml",
    )
    site.feeds["rewrite"] = u("/rw/rdf.xml")
    site.articles["/rw/story.html"] = (texts.REWRITE_TITLE, "en")
    site.articles["/rw/other.html"] = (texts.OTHER_TITLE, "en")

    # fr: a French page, served gzip-compressed
    pages["/fr/a1.html"] = Page(article_html(texts.FR_TITLE, texts.FR, lang="fr").encode(), gzip=True)
    pages["/fr/rss.xml"] = Page(rss([(texts.FR_TITLE, u("/fr/a1.html"), "")]), "application/rss+xml")
    site.feeds["fr"] = u("/fr/rss.xml")
    site.articles["/fr/a1.html"] = (texts.FR_TITLE, "fr")

    # ru: windows-1251 declared in the header only; KOI8-R declared nowhere, no lang attribute
    pages["/ru/cp1251.html"] = Page(
        article_html(texts.RU_CP1251_TITLE, texts.RU_CP1251, lang="ru").encode("cp1251"),
        "text/html; charset=windows-1251",
    )
    pages["/ru/koi8.html"] = Page(
        article_html(texts.RU_KOI8_TITLE, texts.RU_KOI8, lang=None).encode("koi8-r"), "text/html"
    )
    pages["/ru/rss.xml"] = Page(
        rss([(texts.RU_CP1251_TITLE, u("/ru/cp1251.html"), ""), (texts.RU_KOI8_TITLE, u("/ru/koi8.html"), "")]),
        "application/rss+xml",
    )
    site.feeds["ru"] = u("/ru/rss.xml")
    site.articles["/ru/cp1251.html"] = (texts.RU_CP1251_TITLE, "ru")
    site.articles["/ru/koi8.html"] = (texts.RU_KOI8_TITLE, "ru")

    # maps: a sitemap index leading to a gzipped news sitemap (one fresh entry, one too old)
    recent = datetime.now(UTC) - timedelta(hours=2)
    pages["/maps/fresh.html"] = Page(article_html(texts.SITEMAP_TITLE, texts.SITEMAP).encode())
    pages["/maps/old.html"] = Page(article_html("Old news", texts.SITEMAP[:1] * 3).encode())
    pages["/maps/sitemap-index.xml"] = Page(
        (
            '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{u('/maps/news.xml.gz')}</loc><lastmod>{recent.isoformat()}</lastmod></sitemap>"
            "</sitemapindex>"
        ).encode(),
        "application/xml",
    )
    news_sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"<url><loc>{u('/maps/fresh.html')}</loc><news:news><news:publication_date>{recent.isoformat()}"
        f"</news:publication_date><news:title>{texts.SITEMAP_TITLE}</news:title></news:news></url>"
        f"<url><loc>{u('/maps/old.html')}</loc><lastmod>2020-01-01T00:00:00Z</lastmod></url></urlset>"
    )
    pages["/maps/news.xml.gz"] = Page(gzip.compress(news_sitemap.encode()), "application/x-gzip")
    site.extra["maps"] = {"sitemaps": [u("/maps/sitemap-index.xml")]}
    site.articles["/maps/fresh.html"] = (texts.SITEMAP_TITLE, "en")

    # list: a listing page whose headlines (not its navigation) lead to articles
    pages["/list/index.html"] = Page(
        (
            '<html><body><nav><a href="/list/about.html">About</a></nav><ul class="headlines">'
            f'<li><a href="/list/one.html">{texts.LISTING_ONE_TITLE}</a></li>'
            f'<li><a href="{u("/list/two.html")}">{texts.LISTING_TWO_TITLE}</a></li></ul></body></html>'
        ).encode()
    )
    pages["/list/about.html"] = Page(article_html("About us", texts.WEST).encode())
    pages["/list/one.html"] = Page(article_html(texts.LISTING_ONE_TITLE, texts.LISTING_ONE).encode())
    pages["/list/two.html"] = Page(article_html(texts.LISTING_TWO_TITLE, texts.LISTING_TWO).encode())
    site.extra["list"] = {"listing": {"urls": [u("/list/index.html")], "selector": "ul.headlines a"}}
    site.articles["/list/one.html"] = (texts.LISTING_ONE_TITLE, "en")
    site.articles["/list/two.html"] = (texts.LISTING_TWO_TITLE, "en")

    # broken: a truncated feed; down: a feed that answers 500
    # Cut inside the closing tags: the entry (also in the fr feed) is complete, the XML is not.
    pages["/broken/rss.xml"] = Page(rss([(texts.FR_TITLE, u("/fr/a1.html"), "")])[:-23], "application/rss+xml")
    site.feeds["broken"] = u("/broken/rss.xml")
    pages["/down/rss.xml"] = Page(b"down", status=500)
    site.feeds["down"] = u("/down/rss.xml")
    return site


SOURCE_META = {
    "wire": ("other", "GB", ["en"]),
    "west": ("western", "US", ["en"]),
    "rewrite": ("western", "GB", ["en"]),
    "fr": ("western", "FR", ["fr"]),
    "ru": ("russian-state", "RU", ["ru"]),
    "broken": ("other", "XX", ["en"]),
    "down": ("other", "XX", ["en"]),
    "maps": ("other", "GB", ["en"]),
    "list": ("other", "GB", ["en"]),
}


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def write_catalogue(path: Path, site: Site, slugs: list[str] | None = None) -> Path:
    chosen = slugs or [*site.feeds, *site.extra]
    blocks = []
    for slug in chosen:
        group, country, languages = SOURCE_META[slug]
        fields: dict[str, object] = {
            "slug": slug,
            "name": slug.title(),
            "group": group,
            "country": country,
            "languages": languages,
            "feeds": [site.feeds[slug]] if slug in site.feeds else [],
            "domains": ["127.0.0.1"],
            **site.extra.get(slug, {}),
        }
        blocks.append("[[source]]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in fields.items()))
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def write_config(home: Path, catalogue: Path, database_url: str, **crawler: object) -> Path:
    """A settings file for crawling the fixture site quickly."""
    values: dict[str, object] = {
        "sources": str(catalogue),
        "allow_private_addresses": True,
        "download_delay": 0,
        "concurrent_requests_per_domain": 8,
        "download_timeout": 1.5,
        "max_download_bytes": TEST_MAX_BYTES,
        "retry_times": 1,
        "autothrottle": False,
        **crawler,
    }

    lines = ["[storage]", f"database_url = {_toml(database_url)}", "", "[crawler]"]
    lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
