"""Issue 13, item 5: a dead extraction worker neither hangs the crawl nor loses the other pages."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest

from narrative_tracker.crawler.extract import PageInput
from narrative_tracker.crawler.pipelines import extract as pipeline_module
from narrative_tracker.crawler.pipelines.extract import MAX_POOL_REBUILDS, ExtractPipeline

from helpers.dying_worker import extract_or_die


def _pool(workers: int) -> Executor:
    return ProcessPoolExecutor(max_workers=max(workers, 1), mp_context=multiprocessing.get_context("fork"))


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> ExtractPipeline:
    monkeypatch.setattr(pipeline_module, "extract_pages", extract_or_die)
    monkeypatch.setattr(pipeline_module, "make_executor", _pool)
    first = _pool(2)
    crawler = SimpleNamespace(
        settings=SimpleNamespace(getint=lambda name: {"NT_MIN_TEXT_CHARS": 150, "NT_EXTRACTION_WORKERS": 2}[name]),
        spider=SimpleNamespace(extraction_pool=first),
    )
    result = ExtractPipeline(crawler)
    result.executor = first
    return result


def _page(url: str) -> PageInput:
    return PageInput(url=url, body=b"<html></html>", content_type="text/html")


async def _extract_all(pipeline: ExtractPipeline, urls: list[str]) -> list[Any]:
    return await asyncio.wait_for(asyncio.gather(*(pipeline._extract(_page(u)) for u in urls)), timeout=60)


def test_a_batch_that_kills_its_worker_keeps_its_other_pages(pipeline: ExtractPipeline) -> None:
    urls = [f"https://example.org/{i}" for i in range(7)] + ["https://example.org/kill"]
    results = asyncio.run(_extract_all(pipeline, urls))
    try:
        assert results[:7] == [f"extracted {u}" for u in urls[:7]]
        assert str(results[7]).startswith("worker failed")
        assert pipeline.rebuilds >= 1
        assert pipeline.crawler.spider.extraction_pool is pipeline.executor  # feeds and sitemaps use the new one
        # The rebuilt pool goes on extracting.
        assert asyncio.run(_extract_all(pipeline, ["https://example.org/after"])) == [
            "extracted https://example.org/after"
        ]
    finally:
        assert pipeline.executor is not None
        pipeline.executor.shutdown(wait=True)


def test_past_the_rebuild_limit_pages_fail_instead_of_hanging(pipeline: ExtractPipeline) -> None:
    killers = [f"https://example.org/kill{i}" for i in range(MAX_POOL_REBUILDS + 2)]
    try:
        for url in killers:
            [result] = asyncio.run(_extract_all(pipeline, [url]))
            assert str(result).startswith("worker failed")
        assert pipeline.rebuilds == MAX_POOL_REBUILDS
        [after] = asyncio.run(_extract_all(pipeline, ["https://example.org/fine"]))
        assert str(after).startswith("worker failed")  # resolved at once, not after the crawl timeout
    finally:
        assert pipeline.executor is not None
        pipeline.executor.shutdown(wait=True)
