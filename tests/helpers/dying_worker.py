"""An extraction function for worker processes that dies on pages whose URL says "kill"
(a worker killed for memory, or crashed in a C library, on a hostile page)."""

from __future__ import annotations

import os

from narrative_tracker.crawler.extract import PageInput


def extract_or_die(pages: list[PageInput]) -> list[str]:
    if any("kill" in page.url for page in pages):
        os._exit(1)
    return [f"extracted {page.url}" for page in pages]
