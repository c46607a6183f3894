"""The analysis stage: what the stored classifications say, day by day.

- ``daily``: per-day counts by outlet, source group, language, narrative and stance (incremental);
- ``alerts``: the alert rules (one module each) over those counts, with the statistics they share;
- ``digest``: the daily alert digest's content, rendering (HTML, text, Markdown, JSON) and delivery.

It reads and writes storage only; the scheduler's ``trends`` and ``digest`` jobs call it.
"""
