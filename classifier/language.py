"""Language of a text, with a detector that ships its model (no download at run time)."""

from __future__ import annotations

MIN_CHARS = 12


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text``, or "und" when it is too short to tell."""
    sample = " ".join(text.split())[:2000]
    if len(sample) < MIN_CHARS:
        return "und"
    import py3langid

    lang, _score = py3langid.classify(sample)
    return str(lang)
