"""The language of a text: one detector for the whole product, with a model that ships in its
package (py3langid; nothing is downloaded at run time).

The crawler calls it to check what a page declares; ``classify-text`` calls it for pasted text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

UNDETERMINED = "und"
#: Characters of the text py3langid reads: enough to be sure, and its cost grows with the length.
SAMPLE_CHARS = 1000
#: Old codes some sites still declare.
ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "sh": "sr"}


def iso_code(code: str) -> str | None:
    """``code`` as an ISO 639-1 code (old aliases mapped), or None when it is not one."""
    code = code.lower()
    code = ALIASES.get(code, code)
    return code if len(code) == 2 and code.isalpha() else None


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str, *, sample_chars: int = SAMPLE_CHARS) -> tuple[str, float]:
    """py3langid's guess for ``text`` and its normalised probability; ("und", 0) for empty text."""
    sample = text[:sample_chars]
    if not sample.strip():
        return UNDETERMINED, 0.0
    code, probability = _identifier().classify(sample)
    return iso_code(code) or UNDETERMINED, float(probability)
