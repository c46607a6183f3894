"""Narrative Tracker: track known propaganda narratives through the news.

The application shell (CLI, settings, demo) lives here; the pipeline stages live in the
top-level packages ``crawler``, ``classifier``, ``storage`` and ``jobs``.
"""

__version__ = "0.1.0"
