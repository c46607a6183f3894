"""Crawl throughput: the product's crawl against a bare single-process Scrapy + trafilatura crawl.

    python bench/crawl.py [--quick] [--articles N] [--workers W]

Both crawl the same synthetic news web on 127.0.0.1 (feeds of 100 items; article pages of about
11 KB with navigation, comments and footer), side by side in this run:

- bare: one process, Scrapy fetches feeds (parsed with feedparser) and pages, the callback calls
  ``trafilatura.extract``; nothing is stored. Run twice per round: with the product's fixes of
  Scrapy's defaults (``ratio`` is judged against this one) and, for reference, with Scrapy's own.
- product: ``crawler.runner.run_crawl`` end to end: catalogue sync, the crawl child process,
  extraction, language and signatures in worker processes, near-duplicate links and batched
  inserts into a fresh SQLite database.

Both are timed as a user would see them, process start-up included (the product's database is
created and migrated before the clock starts, as a deployment's is), with the same politeness and
concurrency settings and the product's fixes of Scrapy's defaults (see ``bare_child``). ``ratio`` is
the product's articles per second over the bare crawl's. Peak memory is the peak total proportional set size
(PSS) of the product's crawl process and its workers, sampled every 2 s (the workers share
trafilatura and the language model, which a sum of resident sizes would count once per worker).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from narrative_tracker.newsweb import NewsWeb, Page

FEED_SIZE = 100
WORDS = (  # noqa: SIM905 - a word list reads better as prose
    "the government said on minister officials army city council report new people year week country "
    "president foreign talks support aid weapons deliveries border region local security energy prices "
    "market economy growth workers strike court judge ruling election vote party opposition protest police "
    "school hospital health water power station winter summer river bridge road train airport company "
    "bank money budget tax plan project agreement meeting summit leaders spokesman statement interview "
    "analysts experts data figures percent million billion military forces attack defence missile drone "
    "ceasefire negotiations sanctions exports imports oil gas grain harvest farmers villages town residents "
    "families children students teachers doctors nurses volunteers refugees shelter reconstruction damage "
    "history museum festival film music book author artist football match team coach season league final"
).split()


def _article(n: int) -> bytes:
    rng = random.Random(n)
    paragraphs = []
    for _ in range(rng.randint(9, 12)):
        sentences = []
        for _ in range(rng.randint(3, 5)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(9, 18))]
            sentences.append(" ".join(words).capitalize() + ".")
        paragraphs.append("<p>" + " ".join(sentences) + "</p>")
    title = " ".join(rng.choice(WORDS) for _ in range(8)).capitalize()
    nav = "".join(f'<li><a href="/section/{w}">{w.title()}</a></li>' for w in WORDS[:40])
    comments = "".join(
        f'<div class="comment"><span class="user">reader{i}</span><p>{" ".join(rng.choices(WORDS, k=15))}</p></div>'
        for i in range(6)
    )
    related = "".join(f'<li><a href="/a/{n + i}.html">Related story {n + i}</a></li>' for i in range(1, 9))
    # The rest of a news page around the story, as outlets have it: most-read headlines, a
    # newsletter box, structured data and a footer of links (the reference pages weigh
    # about 11 KB).
    most_read = "".join(
        f'<li><a href="/a/{n + 100 + i}.html">{" ".join(rng.choices(WORDS, k=9)).capitalize()}</a></li>'
        for i in range(10)
    )
    footer_links = "".join(f'<li><a href="/info/{w}">{w.title()} {i}</a></li>' for i, w in enumerate(WORDS[40:70]))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta property="og:title" content="{title}"><meta property="og:type" content="article">'
        '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle", '
        f'"headline": "{title}", "publisher": {{"@type": "Organization", "name": "Example Media"}}}}</script>'
        "<script>window.dataLayer=[];function track(){return 1}</script></head><body>"
        f"<header><nav><ul>{nav}</ul></nav></header><main><article><h1>{title}</h1>"
        f'<p class="byline">By Staff Reporter</p>{"".join(paragraphs)}</article>'
        f"<aside><h2>Related</h2><ul>{related}</ul></aside>"
        f'<aside class="most-read"><h2>Most read</h2><ol>{most_read}</ol></aside>'
        '<div class="newsletter"><h3>Get the morning briefing</h3><form action="/subscribe" method="post">'
        '<input type="email" name="email" placeholder="Your e-mail"><button>Subscribe</button></form></div>'
        f'<section class="comments"><h2>Comments</h2>{comments}</section></main>'
        f"<footer><ul>{footer_links}</ul>"
        "<p>Copyright Example Media. All rights reserved. Privacy. Cookies. Contact.</p></footer>"
        "</body></html>"
    ).encode()


class SyntheticWeb(Mapping[str, Page]):
    """Pages made on request: /feed/K.xml lists articles K*100 .. K*100+99; /a/N.html is article N."""

    def __init__(self, articles: int, port_holder: list[int]) -> None:
        self.articles = articles
        self.port = port_holder
        # Made before the clock starts, so that the server costs both crawls the same little CPU.
        self.pages = [_article(n) for n in range(articles)]

    def _feed(self, k: int) -> bytes:
        base = f"http://127.0.0.1:{self.port[0]}"
        now = datetime.now(UTC)
        items = "".join(
            f"<item><title>Story {n}</title><link>{base}/a/{n}.html</link><guid>{base}/a/{n}.html</guid>"
            f"<pubDate>{format_datetime(now - timedelta(seconds=n))}</pubDate></item>"
            for n in range(k * FEED_SIZE, min((k + 1) * FEED_SIZE, self.articles))
        )
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>F{k}</title>{items}</channel></rss>'.encode()

    def __getitem__(self, path: str) -> Page:
        if path.startswith("/a/") and path.endswith(".html"):
            n = int(path[3:-5])
            if 0 <= n < self.articles:
                return Page(self.pages[n])
        if path.startswith("/feed/") and path.endswith(".xml"):
            k = int(path[6:-4])
            if 0 <= k * FEED_SIZE < self.articles:
                return Page(self._feed(k), "application/rss+xml")
        raise KeyError(path)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def feed_urls(self) -> list[str]:
        count = (self.articles + FEED_SIZE - 1) // FEED_SIZE
        return [f"http://127.0.0.1:{self.port[0]}/feed/{k}.xml" for k in range(count)]


# -- the bare crawl (run in a child process: python bench/crawl.py --bare-child FEEDS_JSON) ----------


def bare_child(feeds: list[str], concurrency: int, *, stock: bool = False) -> None:
    import feedparser
    import scrapy
    import trafilatura
    from scrapy.crawler import CrawlerProcess

    from narrative_tracker.crawler.settings import CONCURRENT_ITEMS

    counts = {"articles": 0}

    class Bare(scrapy.Spider):
        name = "bare"

        async def start(self) -> Any:
            for url in feeds:
                yield scrapy.Request(url, callback=self.parse_feed)

        def parse_feed(self, response: Any) -> Any:
            for entry in feedparser.parse(response.body).entries:
                yield scrapy.Request(entry.link, callback=self.parse_article)

        def parse_article(self, response: Any) -> None:
            if trafilatura.extract(response.text, url=response.url):
                counts["articles"] += 1

    settings: dict[str, Any] = {
        "LOG_LEVEL": "WARNING",
        "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": max(16, concurrency * 4),
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": 0,
    }
    if not stock:
        # The product's fixes of Scrapy's defaults, so that the ratio measures the product's
        # design and not them: CONCURRENT_ITEMS (Scrapy's 100 costs ~0.7 ms per page), the
        # downloader that keeps CONCURRENT_REQUESTS_PER_DOMAIN (Scrapy's own exceeds it and
        # reconnects for every second page, ~3% of the bare crawl's CPU), and no consoles.
        settings |= {
            "CONCURRENT_ITEMS": CONCURRENT_ITEMS,
            "DOWNLOADER": "narrative_tracker.crawler.downloader.PoliteDownloader",
            "TELNETCONSOLE_ENABLED": False,
            "REMOTE_CONTROL_ENABLED": False,
        }
    process = CrawlerProcess(settings)
    process.crawl(Bare)
    process.start()
    print(json.dumps(counts))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_bare(web: SyntheticWeb, concurrency: int, *, stock: bool = False) -> tuple[int, float]:
    started = time.perf_counter()
    command = [sys.executable, __file__, "--bare-child", json.dumps(web.feed_urls()), "--concurrency", str(concurrency)]
    result = subprocess.run(
        [*command, "--stock"] if stock else command,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    return json.loads(result.stdout.strip().splitlines()[-1])["articles"], seconds


def run_product(web: SyntheticWeb, workdir: Path, concurrency: int, workers: int) -> tuple[dict[str, Any], float]:
    from narrative_tracker.crawler.runner import run_crawl
    from narrative_tracker.settings import load_settings
    from narrative_tracker.storage.database import open_database

    workdir.mkdir(parents=True, exist_ok=True)
    feeds = web.feed_urls()
    per_source = 10
    blocks = []
    for i in range(0, len(feeds), per_source):
        urls = ", ".join(f'"{u}"' for u in feeds[i : i + per_source])
        blocks.append(
            f'[[source]]\nslug = "s{i}"\nname = "S{i}"\ngroup = "western"\ncountry = "GB"\nlanguages = ["en"]\n'
            f'feeds = [{urls}]\ndomains = ["127.0.0.1"]\n'
        )
    (workdir / "sources.toml").write_text("\n".join(blocks))
    (workdir / "config.toml").write_text(
        f'[storage]\ndatabase_url = "sqlite:///{workdir}/bench.db"\n[crawler]\nsources = "sources.toml"\n'
        f"allow_private_addresses = true\ndownload_delay = 0\nconcurrent_requests_per_domain = {concurrency}\n"
        f"autothrottle = false\nextraction_workers = {workers}\n"
    )
    settings = load_settings(workdir / "config.toml")
    # The database is created before the clock starts: the scheduled crawls of a deployment run
    # against an existing one (the first run's migrations are a one-off, not crawl work).
    open_database(settings.database_url).dispose()
    started = time.perf_counter()
    stats = run_crawl(settings)
    return stats, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,500 articles (under a minute)")
    parser.add_argument("--articles", type=int, help="articles to crawl (default 10,000; 1,500 with --quick)")
    parser.add_argument("--workers", type=int, default=2, help="extraction worker processes of the product crawl")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent requests to the one local host")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of both crawls; best of each")
    parser.add_argument("--bare-child", help=argparse.SUPPRESS)
    parser.add_argument("--stock", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_child:
        bare_child(json.loads(args.bare_child), args.concurrency, stock=args.stock)
        return
    articles = args.articles or (1_500 if args.quick else 10_000)
    port: list[int] = [0]
    web_pages = SyntheticWeb(articles, port)
    with NewsWeb(web_pages) as web, tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:  # type: ignore[arg-type]
        port[0] = web.port
        # Alternate the two crawls and keep each one's best round: the machine is shared, and a
        # burst of someone else's work should not decide the ratio.
        bare_runs, stock_runs, product_runs = [], [], []
        for round_number in range(args.rounds):
            cpu = _children_cpu()
            bare_articles, bare_seconds = run_bare(web_pages, args.concurrency)
            bare_runs.append((bare_seconds, bare_articles, _children_cpu() - cpu))
            stock_articles, stock_seconds = run_bare(web_pages, args.concurrency, stock=True)
            stock_runs.append((stock_seconds, stock_articles))
            cpu = _children_cpu()
            stats, product_seconds = run_product(
                web_pages, Path(tmp) / str(round_number), args.concurrency, args.workers
            )
            product_runs.append((product_seconds, stats, _children_cpu() - cpu))
        bare_seconds, bare_articles, bare_cpu = min(bare_runs, key=lambda run: run[0])
        product_seconds, stats, product_cpu = min(product_runs, key=lambda run: run[0])
        stock_seconds, stock_articles = min(stock_runs)
    product_rate = stats["new_articles"] / product_seconds
    bare_rate = bare_articles / bare_seconds
    stock_rate = stock_articles / stock_seconds
    figures = {
        "articles": articles,
        "rounds": args.rounds,
        "bare_articles": bare_articles,
        "bare_seconds": round(bare_seconds, 2),
        "bare_articles_per_s": round(bare_rate, 1),
        "product_articles": stats["new_articles"],
        "product_duplicates": stats["duplicates"],
        "product_seconds": round(product_seconds, 2),
        "product_articles_per_s": round(product_rate, 1),
        "product_crawl_seconds": stats["seconds"],
        "extraction_workers": args.workers,
        # CPU per article of each crawl (its processes, not the server): what the load of the
        # machine does not change. The product spreads its CPU over three processes (the workers
        # are children of the fork server, so their CPU comes from the crawl's own report).
        "bare_cpu_ms_per_article": round(1000 * bare_cpu / max(1, bare_articles), 2),
        "product_cpu_ms_per_article": round(
            1000 * (product_cpu + stats["worker_cpu_seconds"]) / max(1, stats["new_articles"]), 2
        ),
        "product_crawl_process_cpu_s": stats.get("cpu_seconds"),
        "product_worker_cpu_s": stats.get("worker_cpu_seconds"),
        # For reference: the same bare crawl with Scrapy's own defaults (as the reference
        # figures were measured), and the product's ratio to it. ``ratio`` is the one judged.
        "stock_bare_articles_per_s": round(stock_rate, 1),
        "ratio_to_stock_scrapy": round(product_rate / stock_rate, 2),
        "load_average": round(os.getloadavg()[0], 2),
        "peak_memory_mb": stats["peak_memory_mb"],
        "crawl_process_peak_rss_mb": stats["crawl_process_peak_rss_mb"],
        "worker_peak_rss_mb": stats["worker_peak_rss_mb"],
        "ratio": round(product_rate / bare_rate, 2),
    }
    print(
        f"bare: {bare_articles} articles in {bare_seconds:.1f} s ({bare_rate:.0f}/s; with Scrapy's defaults "
        f"{stock_rate:.0f}/s); "
        f"product: {stats['new_articles']} in {product_seconds:.1f} s ({product_rate:.0f}/s), "
        f"peak memory {figures['peak_memory_mb']} MB",
        file=sys.stderr,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
