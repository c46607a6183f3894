"""The Scrapy settings of a crawl, built from ``[crawler]`` (one place, so the politeness is reviewable).

Component order (lower runs first on the way out to the network):

    downloader               PoliteDownloader (keeps the per-domain concurrency)
    downloader middlewares   SafetyMiddleware 50, then Scrapy's own (robots.txt 100, retry 550, ...),
                             RetryAfterMiddleware 560 (429 answers)
    name resolver            GuardedResolver (threaded getaddrinfo; only allowed addresses reach a connection)
    item pipelines           ExtractPipeline 300 (worker processes), StorePipeline 800 (batched inserts)
"""

from __future__ import annotations

from typing import Any

from narrative_tracker.crawler.config import CrawlerSettings

#: Only answers worth asking again: server errors and gateway timeouts (never 4xx, never 429 storms).
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524]
#: Only transient network failures are retried (an unknown host or a refused connection is not).
#: Scrapy starts this many asyncio tasks for the output of every response, even an empty one:
#: its default of 100 costs about 0.7 ms per page for nothing (a known upstream slowdown). A
#: response of this crawl yields one item (an article page) or requests only (feeds, sitemaps).
CONCURRENT_ITEMS = 1
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.DownloadTimeoutError",
    "scrapy.exceptions.ResponseDataLossError",
    "twisted.internet.error.ConnectionLost",
    "twisted.internet.error.ConnectionDone",
]


#: Scrapy components this crawl has no use for, each a cost on every request or at every start:
#: the domain rules are SafetyMiddleware's and the URL length rule the spider's; there is no HTTP
#: auth, no cookie, no depth to track and no use for Scrapy's own request counts (the crawl keeps
#: its own); and no console (telnet, or the remote control of Scrapy 2.19+, an HTTP server that
#: runs posted code and writes its token under ~/.local/state: neither belongs in a process that
#: reads hostile pages). Taken out of Scrapy's ``*_BASE`` lists, not set to None: Scrapy imports
#: every component listed there while ordering them, and some import aiohttp, tldextract and
#: requests (0.2 s at every crawl's start). With Scrapy's request fingerprints (DUPEFILTER_CLASS)
#: they cost a plain Scrapy crawl of the benchmark's pages about 0.15 ms of its 1.1 ms per page.
#: (RefererMiddleware stays: RedirectMiddleware warns at every start without it.) No proxy either:
#: HttpProxyMiddleware would send requests to a proxy named in ``http_proxy``, which resolves the
#: hosts itself, out of reach of the private-address check on the addresses actually connected to.
UNUSED_COMPONENTS = {
    "DOWNLOADER_MIDDLEWARES_BASE": {
        "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware",
        "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware",
        "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
        "scrapy.downloadermiddlewares.stats.DownloaderStats",
        "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware",
    },
    "SPIDER_MIDDLEWARES_BASE": {
        "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware",
        "scrapy.spidermiddlewares.depth.DepthMiddleware",
        "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware",
    },
    "EXTENSIONS_BASE": {
        "scrapy.extensions.memusage.MemoryUsage",
        "scrapy.extensions.telnet.TelnetConsole",
        "scrapy.extensions.remote_control.RemoteControl",
    },
}


def _without(base: str, unused: set[str]) -> dict[str, int]:
    from scrapy.settings import default_settings

    return {path: order for path, order in getattr(default_settings, base, {}).items() if path not in unused}


def scrapy_settings(config: CrawlerSettings, *, log_level: str = "WARNING") -> dict[str, Any]:
    per_domain = config.concurrent_requests_per_domain
    return {
        "BOT_NAME": "narrative-tracker",
        "USER_AGENT": config.user_agent,
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_DELAY": config.download_delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": per_domain,
        "CONCURRENT_REQUESTS": max(16, per_domain * 4),
        "CONCURRENT_ITEMS": CONCURRENT_ITEMS,
        # Scrapy's own exceeds CONCURRENT_REQUESTS_PER_DOMAIN under the asyncio reactor.
        "DOWNLOADER": "narrative_tracker.crawler.downloader.PoliteDownloader",
        # The spider requests each article once (by its normalised URL's hash) and entry URLs on
        # purpose every time: Scrapy's fingerprinting of every request would only cost.
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
        "AUTOTHROTTLE_ENABLED": config.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(config.download_delay, 0.5),
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(per_domain),
        "DOWNLOAD_TIMEOUT": config.download_timeout,
        "DNS_TIMEOUT": min(config.download_timeout, 30.0),
        # Resolves in the reactor's thread pool and hands a connection only the addresses the
        # crawl may reach: the private-address rule holds for the address actually connected to.
        "TWISTED_DNS_RESOLVER": "narrative_tracker.crawler.resolver.GuardedResolver",
        # Applies to the body after decompression too (HttpCompressionMiddleware checks it).
        "DOWNLOAD_MAXSIZE": config.max_download_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_ENABLED": config.retry_times > 0,
        "RETRY_TIMES": config.retry_times,
        "RETRY_HTTP_CODES": RETRY_HTTP_CODES,
        "RETRY_EXCEPTIONS": RETRY_EXCEPTIONS,
        "REDIRECT_MAX_TIMES": 5,
        "METAREFRESH_ENABLED": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,  # left out too (UNUSED_COMPONENTS): in case a version lists it elsewhere
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": log_level,
        "LOG_FORMAT": "%(levelname)s %(name)s: %(message)s",
        "LOGSTATS_INTERVAL": 0,
        "DEFAULT_DROPITEM_LOG_LEVEL": "DEBUG",  # counted in the summary under "not-an-article"
        # A check for the spider's developers that reads the source of the callback at every response.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        # Scrapy's component lists without the ones this crawl never uses (see UNUSED_COMPONENTS).
        **{base: _without(base, paths) for base, paths in UNUSED_COMPONENTS.items()},
        "DOWNLOADER_MIDDLEWARES": {
            "narrative_tracker.crawler.middlewares.SafetyMiddleware": 50,
            # Next to RetryMiddleware (550), which leaves 429 answers alone: they are handled here.
            "narrative_tracker.crawler.middlewares.RetryAfterMiddleware": 560,
        },
        "ITEM_PIPELINES": {
            "narrative_tracker.crawler.pipelines.extract.ExtractPipeline": 300,
            "narrative_tracker.crawler.pipelines.store.StorePipeline": 800,
        },
        # Read by this project's components.
        "NT_ALLOW_PRIVATE_ADDRESSES": config.allow_private_addresses,
        "NT_MIN_TEXT_CHARS": config.min_text_chars,
        "NT_EXTRACTION_WORKERS": config.extraction_workers,
        "NT_MAX_RETRY_AFTER": config.max_retry_after,
    }
