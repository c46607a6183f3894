"""A one-request Scrapy crawl with the crawl's own settings and a scripted resolver (DNS rebinding).

Run as ``python -m helpers.rebinding URL ANSWERS ALLOW_PRIVATE`` (with ``tests`` on the path): the
system resolver is replaced in this process by one that gives the comma-separated ANSWERS in turn
(the last one repeats), answers are not cached, and one request is made with the crawl's Scrapy
settings (SafetyMiddleware, GuardedResolver). Prints one JSON line: how the request ended.
Nothing leaves this process except connections to the addresses the resolver lets through.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Any


def main(url: str, answers: list[str], allow_private: bool) -> None:
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    import scrapy
    from scrapy.crawler import CrawlerProcess

    from narrative_tracker.crawler import resolver
    from narrative_tracker.crawler.config import CrawlerSettings
    from narrative_tracker.crawler.failures import classify_failure, explain_failure
    from narrative_tracker.crawler.settings import scrapy_settings

    asked: list[str] = []

    def scripted(host: str) -> resolver.Lookup:
        answer = answers[min(len(asked), len(answers) - 1)]
        asked.append(answer)
        return resolver.Lookup(host, (answer,))

    resolver.resolve = scripted  # type: ignore[assignment] # every lookup of this process
    resolver.CACHE_SECONDS = 0.0  # each lookup asks again, as with a zero TTL
    outcome: dict[str, Any] = {}

    class OneRequest(scrapy.Spider):
        name = "one"

        async def start(self) -> AsyncIterator[scrapy.Request]:
            yield scrapy.Request(url, callback=self.done, errback=self.failed, dont_filter=True)

        def done(self, response: Any) -> None:
            outcome.update(status=response.status)

        def failed(self, failure: Any) -> None:
            kind, skip = classify_failure(failure)
            outcome.update(kind=kind, skip=skip, message=explain_failure(failure))

    config = CrawlerSettings(
        allow_private_addresses=allow_private, download_timeout=5.0, retry_times=0, autothrottle=False
    )
    settings = {**scrapy_settings(config), "ROBOTSTXT_OBEY": False, "ITEM_PIPELINES": {}}
    process = CrawlerProcess(settings, install_root_handler=False)
    process.crawl(OneRequest)
    process.start()
    print(json.dumps({**outcome, "lookups": asked}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","), sys.argv[3] == "true")
