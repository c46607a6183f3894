"""The adversarial corpus: hostile and broken inputs served by the local news web, for one crawl.

    corpus = build_corpus(web, drip, tmp_path)   # fills web.site; ``corpus.inputs`` names each input
    write_corpus_catalogue(path, corpus)

Three sources carry them: ``hostile-feeds`` (one feed entry per hostile feed), ``hostile-maps``
(one sitemap entry per hostile sitemap) and ``hostile-pages`` (one feed linking every hostile
page); ``good`` is an ordinary outlet whose articles must all be stored. ``Drip`` is a raw server
for what the news web cannot do: a body that never ends and a slow drip.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

from narrative_tracker.newsweb import NewsWeb, Page

from sites import texts
from sites.news import article_html, rss

XML = "application/xml"
RSS = "application/rss+xml"
NOW = datetime.now(UTC)

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)
QUADRATIC = '<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "' + "x" * 50_000 + '">]>'


def _xxe(target: str) -> str:
    return f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "{target}">]>'


def _items(links: list[str], *, title: str = "Item", date: str | None = None) -> str:
    when = date or format_datetime(NOW)
    return "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link><pubDate>{when}</pubDate></item>"
        for link in links
    )


def _rss(body: str, prolog: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return (
        f'{prolog}<rss version="2.0"><channel><title>T</title><link>http://x/</link>{body}</channel></rss>'
    ).encode()


class Drip:
    """A raw HTTP server: ``/never-ends`` sends chunks forever, ``/drip`` a byte every 0.2 s.

    Each connection is bounded (30 s, or until the client goes away)."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        self._socket.settimeout(0.5)
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        deadline = time.monotonic() + 30
        with connection:
            try:
                request = connection.recv(65536).decode("latin-1")
                if " /robots.txt " in request:
                    connection.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    return
                if " /never-ends " in request:
                    connection.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                    )
                    while time.monotonic() < deadline and not self._stop.is_set():
                        connection.sendall(b"400\r\n" + b"<p>more</p>" * 93 + b"<p>m\r\n")
                        time.sleep(0.05)
                else:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n")
                    while time.monotonic() < deadline and not self._stop.is_set():
                        connection.sendall(b"<")
                        time.sleep(0.2)
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._socket.close()


@dataclass
class Corpus:
    web: NewsWeb
    drip: Drip
    #: name -> what it is, one per hostile input
    inputs: dict[str, str] = field(default_factory=dict)
    feeds: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    #: paths of the good outlet's articles
    good: list[str] = field(default_factory=list)
    #: paths that must never be requested (listed only in local files, or behind refused links)
    forbidden: list[str] = field(default_factory=list)


def build_good(web: NewsWeb, corpus: Corpus, count: int, start: int = 0) -> None:
    stories = [
        (texts.WEST_TITLE, texts.WEST),
        (texts.WIRE_TITLE, texts.WIRE),
        (texts.OTHER_TITLE, texts.OTHER),
        (texts.LISTING_ONE_TITLE, texts.LISTING_ONE),
        (texts.LISTING_TWO_TITLE, texts.LISTING_TWO),
    ]
    for i in range(start, start + count):
        title, paragraphs = stories[i % len(stories)]
        path = f"/good/a{i}.html"
        web.site[path] = Page(article_html(f"{title} ({i})", [f"Story {i}.", *paragraphs]).encode())
        if path not in corpus.good:
            corpus.good.append(path)
    web.site["/good/rss.xml"] = Page(rss([(f"Good {i}", web.url(p), "") for i, p in enumerate(corpus.good)]), RSS)


def build_corpus(web: NewsWeb, drip: Drip, tmp: Path) -> Corpus:
    corpus = Corpus(web, drip)
    u = web.url
    site = web.site
    site["/robots.txt"] = Page(b"User-agent: *\n", "text/plain")
    secret = u("/secret/only-in-a-local-file.html")
    corpus.forbidden.append("/secret/only-in-a-local-file.html")
    site["/secret/only-in-a-local-file.html"] = Page(article_html("Secret", texts.WEST).encode())
    local_feed = tmp / "local-feed.xml"
    local_feed.write_bytes(rss([("Secret", secret, "")]))

    def feed(name: str, what: str, page: Page) -> None:
        path = f"/hf/{name}.xml"
        site[path] = page
        corpus.feeds.append(u(path))
        corpus.inputs[f"feed:{name}"] = what

    fine = u("/hf/fine.html")
    site["/hf/fine.html"] = Page(article_html("Fine", texts.FR).encode())
    feed(
        "billion-laughs",
        "billion laughs (nested entities)",
        Page(
            _rss(_items([fine]) + "<x>&lol9;</x>", BILLION_LAUGHS).replace(
                b'<?xml version="1.0" encoding="utf-8"?>', b""
            ),
            RSS,
        ),
    )
    feed(
        "quadratic",
        "quadratic entity blow-up",
        Page((QUADRATIC + "<rss><channel>" + "<title>&a;&a;&a;&a;</title>" * 50 + "</channel></rss>").encode(), RSS),
    )
    feed(
        "xxe-file",
        "external entity naming /etc/passwd",
        Page(
            (
                _xxe("file:///etc/passwd")
                + '<rss version="2.0"><channel><item><title>&xxe;</title><link>'
                + fine
                + "</link></item></channel></rss>"
            ).encode(),
            RSS,
        ),
    )
    feed(
        "xxe-http",
        "external entity fetching a URL",
        Page(
            (
                _xxe(secret)
                + '<rss version="2.0"><channel><item><title>&xxe;</title><link>'
                + fine
                + "</link></item></channel></rss>"
            ).encode(),
            RSS,
        ),
    )
    feed(
        "xxe-dtd",
        "external parameter entity (DTD)",
        Page(
            (
                '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % d SYSTEM "'
                + secret
                + '"> %d;]><rss version="2.0"><channel></channel></rss>'
            ).encode(),
            RSS,
        ),
    )
    feed("path-local-feed", "body naming a local feed file", Page(str(local_feed).encode(), RSS))
    feed("path-dev-zero", "body naming /dev/zero", Page(b"/dev/zero", RSS))
    feed("path-etc-passwd", "body naming /etc/passwd", Page(b"/etc/passwd", RSS))
    bomb = gzip.compress(b"\0" * 100_000_000, compresslevel=9)  # 100 KB on the wire, 100 MB inflated
    gzipped = {"Content-Encoding": "gzip"}
    feed("gzip-bomb", "gzip bomb (100 MB of zeros)", Page(bomb, RSS, headers=gzipped, conditional=False))
    feed("empty", "empty body", Page(b"", RSS))
    feed("truncated", "truncated mid-item", Page(_rss(_items([fine]))[:-40], RSS))
    feed(
        "nul-bytes",
        "NUL bytes",
        Page(_rss(_items([fine], title="a\0b\0c")).replace(b"<channel>", b"<channel>\0\0\0"), RSS),
    )
    feed(
        "invalid-utf8",
        "invalid UTF-8",
        Page(_rss(_items([fine], title="x")).replace(b"<title>x", b"<title>\xff\xfe\xc3\x28"), RSS),
    )
    feed(
        "mixed-encodings",
        "UTF-8 declared, windows-1251 and latin-1 bytes inside",
        Page(
            _rss(_items([fine], title="x")).replace(b"<title>x", "Вашингтон".encode("cp1251") + "é".encode("latin-1")),
            RSS,
        ),
    )
    feed(
        "many-items",
        "100,000 items (beyond the size limit)",
        Page(_rss(_items([u(f"/hf/n{i}.html") for i in range(100_000)])), RSS),
    )
    feed(
        "two-thousand-items",
        "2,000 items (capped per feed)",
        Page(_rss(_items([u(f"/hf/m{i}.html") for i in range(2000)])), RSS),
    )
    feed(
        "javascript-links", "javascript: links", Page(_rss(_items(["javascript:alert(1)", "JaVaScRiPt:alert(2)"])), RSS)
    )
    feed("file-links", "file: links", Page(_rss(_items(["file:///etc/passwd", "file://localhost/etc/shadow"])), RSS))
    feed(
        "data-links",
        "data: and ftp: links",
        Page(_rss(_items(["data:text/html,<script>1</script>", "ftp://127.0.0.1/x"])), RSS),
    )
    feed("duplicate-guids", "the same GUID and link 500 times", Page(_rss(_items([fine] * 500)), RSS))
    feed(
        "year-9999",
        "dates in year 9999",
        Page(_rss(_items([u("/hf/future.html")], date="Fri, 31 Dec 9999 23:59:59 GMT")), RSS),
    )
    feed(
        "year-1900",
        "dates in year 1900",
        Page(_rss(_items([u("/hf/past.html")], date="Mon, 01 Jan 1900 00:00:00 GMT")), RSS),
    )
    feed("huge-title", "a 200 KB title", Page(_rss(_items([fine], title="T" * 200_000)), RSS))
    feed(
        "nested-tags",
        "10,000 nested tags",
        Page(_rss("<description>" + "<b>" * 10_000 + "x" + "</b>" * 10_000 + "</description>" + _items([fine])), RSS),
    )
    feed(
        "huge-attribute",
        "a 250 KB attribute",
        Page(_rss(f'<item><title a="{"A" * 250_000}">x</title><link>{fine}</link></item>'), RSS),
    )
    feed("redirect-loop", "redirect loop", Page(redirect_to="/hf/redirect-loop.xml"))
    site["/hf/ping.xml"] = Page(redirect_to="/hf/pong.xml")
    site["/hf/pong.xml"] = Page(redirect_to="/hf/ping.xml")
    feed("redirect-ping-pong", "two feeds redirecting to each other", Page(redirect_to="/hf/ping.xml"))
    feed(
        "redirect-metadata",
        "redirect to the cloud metadata address",
        Page(redirect_to="http://169.254.169.254/latest/meta-data/"),
    )
    feed("redirect-file", "redirect to file:///etc/passwd", Page(redirect_to="file:///etc/passwd"))
    feed(
        "redirect-off-domain", "redirect to another host", Page(redirect_to=web.url("/hf/fine.html", host="localhost"))
    )
    feed("slow", "answers after the download timeout", Page(_rss(_items([fine])), RSS, delay=5.0))
    feed("html", "an HTML page instead of a feed", Page(article_html("Not a feed", texts.WEST).encode()))
    feed(
        "json", "JSON instead of a feed", Page(b'{"items": [{"url": "' + secret.encode() + b'"}]}', "application/json")
    )
    feed("binary", "random binary", Page(bytes(range(256)) * 64, "application/octet-stream"))
    feed("status-500", "HTTP 500", Page(b"oops", status=500))
    feed("status-403", "HTTP 403", Page(b"no", status=403))
    feed("status-429", "HTTP 429", Page(b"slow down", status=429))
    feed(
        "utf16-lie",
        "UTF-16 declared, UTF-8 sent",
        Page(_rss(_items([fine]), '<?xml version="1.0" encoding="utf-16"?>'), RSS),
    )
    feed(
        "utf16",
        "genuine UTF-16 with a BOM",
        Page(
            (
                '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel>'
                + _items([fine])
                + "</channel></rss>"
            ).encode("utf-16"),
            RSS,
        ),
    )
    feed(
        "long-urls",
        "links longer than 2,083 characters",
        Page(_rss(_items([u("/hf/long.html?" + "a=1&" * 1000)])), RSS),
    )
    feed(
        "odd-urls",
        "userinfo, bad ports, IPv6 and IDN hosts",
        Page(
            _rss(
                _items(
                    [
                        "http://user:pw@127.0.0.1/x",
                        "http://127.0.0.1:99999/x",
                        "http://[::1]/x",
                        "http://пример.испытание/x",
                        "http://127.0.0.1:0/x",
                        "//127.0.0.1/x",
                        "http:///x",
                    ]
                )
            ),
            RSS,
        ),
    )
    feed(
        "xml-base-file",
        "Atom with xml:base file:///",
        Page(
            (
                b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="file:///etc/">'
                b'<title>a</title><entry><title>x</title><link href="passwd"/><id>x</id></entry></feed>'
            ),
            "application/atom+xml",
        ),
    )
    feed(
        "script-title",
        "markup and script in titles",
        Page(_rss(_items([fine], title="<script>alert(1)</script><img src=x onerror=alert(2)>")), RSS),
    )

    def sitemap(name: str, what: str, page: Page) -> None:
        path = f"/hm/{name}.xml"
        site[path] = page
        corpus.sitemaps.append(u(path))
        corpus.inputs[f"sitemap:{name}"] = what

    urlset = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</urlset>'
    sitemap(
        "billion-laughs",
        "billion laughs",
        Page((BILLION_LAUGHS + urlset.format("<url><loc>&lol9;</loc></url>")).encode(), XML),
    )
    sitemap(
        "xxe",
        "external entity",
        Page((_xxe("file:///etc/passwd") + urlset.format("<url><loc>&xxe;</loc></url>")).encode(), XML),
    )
    sitemap("gzip-bomb", "gzip bomb (100 MB of zeros, a .gz body)", Page(bomb, "application/x-gzip"))
    sitemap(
        "nested",
        "10,000 nested tags",
        Page(urlset.format("<url>" + "<x>" * 10_000 + "</x>" * 10_000 + "</url>").encode(), XML),
    )
    sitemap(
        "self-index",
        "an index listing itself",
        Page(
            (
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + f"<sitemap><loc>{u('/hm/self-index.xml')}</loc></sitemap>" * 3
                + "</sitemapindex>"
            ).encode(),
            XML,
        ),
    )
    sitemap(
        "children-elsewhere",
        "an index of 1,000 children on other hosts and schemes",
        Page(
            (
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(
                    f"<sitemap><loc>{web.url(f'/hm/c{i}.xml', host='localhost')}</loc></sitemap>" for i in range(1000)
                )
                + "<sitemap><loc>file:///etc/passwd</loc></sitemap></sitemapindex>"
            ).encode(),
            XML,
        ),
    )
    sitemap(
        "dates",
        "dates in years 9999 and 1900",
        Page(
            urlset.format(
                f"<url><loc>{u('/hm/d1.html')}</loc><lastmod>9999-12-31</lastmod></url><url><loc>{u('/hm/d2.html')}</loc><lastmod>1900-01-01</lastmod></url>"
            ).encode(),
            XML,
        ),
    )
    sitemap("not-xml", "not XML", Page(b"\x89PNG\r\n\x1a\n" + bytes(range(256)), XML))
    sitemap(
        "truncated", "truncated", Page(urlset.format(f"<url><loc>{u('/hm/t.html')}</loc></url>").encode()[:-30], XML)
    )
    sitemap(
        "javascript",
        "javascript: and file: locations",
        Page(
            urlset.format("<url><loc>javascript:alert(1)</loc></url><url><loc>file:///etc/passwd</loc></url>").encode(),
            XML,
        ),
    )

    pages: list[tuple[str, str]] = []

    def page(name: str, what: str, value: Page | str) -> None:
        if isinstance(value, str):
            pages.append((name, value))
        else:
            path = f"/hp/{name}.html"
            site[path] = value
            pages.append((name, u(path)))
        corpus.inputs[f"page:{name}"] = what

    page("100mb", "a 100 MB page", Page(b"<html><body>" + b"<p>x</p>" * 12_500_000, conditional=False))
    page("gzip-bomb", "gzip bomb (Content-Encoding, 100 MB)", Page(bomb, headers=gzipped, conditional=False))
    page("never-ends", "a body that never ends", drip.url("/never-ends"))
    page("slow-drip", "a byte every 0.2 s", drip.url("/drip"))
    page("redirect-loop", "redirect loop", Page(redirect_to="/hp/redirect-loop.html"))
    page(
        "redirect-metadata", "redirect to 169.254.169.254", Page(redirect_to="http://169.254.169.254/latest/meta-data/")
    )
    page("redirect-file", "redirect to file:///etc/passwd", Page(redirect_to="file:///etc/passwd"))
    page("redirect-gopher", "redirect to another scheme", Page(redirect_to="gopher://127.0.0.1:70/"))
    page(
        "invalid-utf8",
        "invalid UTF-8",
        Page(article_html("Bad bytes", texts.WEST).encode().replace(b"<h1>", b"<h1>\xff\xfe\xc3\x28")),
    )
    page(
        "mixed-encodings",
        "UTF-8 and windows-1251 mixed",
        Page(article_html("Mixed", texts.WEST).encode() + "Вашингтон".encode("cp1251")),
    )
    page(
        "nested-divs",
        "10,000 nested tags",
        Page(
            ("<html><body>" + "<div>" * 10_000 + " ".join(texts.WEST) + "</div>" * 10_000 + "</body></html>").encode()
        ),
    )
    page(
        "huge-attribute",
        "a 250 KB attribute",
        Page(article_html("Attr", texts.WEST).replace("<h1>", f'<h1 title="{"A" * 250_000}">').encode()),
    )
    page("nul-bytes", "NUL bytes", Page(article_html("Nul", texts.WEST).encode().replace(b"<p>", b"<p>\0\0")))
    page("empty", "an empty body", Page(b""))
    page("huge-title", "a 200 KB title", Page(article_html("T" * 200_000, texts.WEST[:1]).encode()))
    page(
        "canonical-file",
        "a canonical URL naming file:///etc/passwd",
        Page(
            article_html("Canon file", texts.FR)
            .replace("<head>", '<head><link rel="canonical" href="file:///etc/passwd">')
            .encode()
        ),
    )
    page(
        "canonical-js",
        "a javascript: canonical URL",
        Page(
            article_html("Canon js", texts.OTHER)
            .replace("<head>", '<head><link rel="canonical" href="javascript:alert(1)">')
            .encode()
        ),
    )
    page(
        "meta-refresh",
        "a meta refresh to file://",
        Page(
            article_html("Refresh", texts.WIRE)
            .replace("<head>", '<head><meta http-equiv="refresh" content="0;url=file:///etc/passwd">')
            .encode()
        ),
    )
    page("binary-as-html", "binary bytes labelled text/html", Page(bytes(range(256)) * 100))
    page(
        "bogus-charset",
        "an unknown charset",
        Page(article_html("Charset", texts.LISTING_ONE).encode(), "text/html; charset=x-bogus-9"),
    )
    page("utf7", "UTF-7 declared", Page(article_html("Seven", texts.LISTING_TWO).encode(), "text/html; charset=utf-7"))
    page(
        "many-links",
        "20,000 links and scripts",
        Page(("<html><body>" + '<a href="/x">x</a><script>while(1){}</script>' * 20_000 + "</body></html>").encode()),
    )
    page("status-500", "HTTP 500", Page(b"oops", status=500))
    page("not-found", "HTTP 404", Page(b"gone", status=404))
    page("pdf", "a PDF", Page(b"%PDF-1.4" + bytes(range(256)) * 10, "application/pdf"))
    site["/hp/rss.xml"] = Page(rss([(name, link, "") for name, link in pages]), RSS)
    return corpus


def write_corpus_catalogue(path: Path, corpus: Corpus) -> Path:
    u = corpus.web.url
    blocks = [
        ("good", "western", [u("/good/rss.xml")], []),
        ("hostile-feeds", "other", corpus.feeds, []),
        ("hostile-maps", "other", [], corpus.sitemaps),
        ("hostile-pages", "other", [u("/hp/rss.xml")], []),
    ]
    text = ""
    for slug, group, feeds, sitemaps in blocks:
        quoted = ", ".join(f'"{f}"' for f in feeds)
        maps = ", ".join(f'"{s}"' for s in sitemaps)
        text += (
            f'[[source]]\nslug = "{slug}"\nname = "{slug}"\ngroup = "{group}"\ncountry = "XX"\nlanguages = ["en"]\n'
            f'feeds = [{quoted}]\nsitemaps = [{maps}]\ndomains = ["127.0.0.1"]\n\n'
        )
    path.write_text(text, encoding="utf-8")
    return path
