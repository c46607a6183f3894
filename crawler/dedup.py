"""Exact and near-duplicate detection: content hashes and MinHash LSH over word shingles.

Two articles are the same story when the Jaccard similarity of their sets of word 3-shingles is
at least the threshold (``[crawler] duplicate_threshold``, default 0.5). A wire story syndicated
word for word scores about 0.9-1.0 (only the outlet's own intro or credit line differ); a light
rewrite (a new lead sentence, a few words changed per paragraph) about 0.55-0.8; two different
stories on the same subject below 0.1. Every candidate the index proposes is checked with the
estimated Jaccard (share of equal MinHash values) before it is linked.

MinHash and the banded index are written here with numpy rather than taken from datasketch:
importing datasketch loads SciPy, 70 MB in every crawl and extraction process.

The index persists across crawls by being rebuilt at crawl start from the signatures stored with
the articles of the last ``duplicate_window_days`` days (about 1.6 KB of memory per article).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

NUM_PERM = 128
#: Banding of the LSH index: 32 bands of 4 rows. A pair at Jaccard 0.5 shares a band with
#: probability 0.87, at 0.6 0.99, at 0.3 0.23 and at 0.1 0.003; candidates are then checked.
BANDS, ROWS = 32, 4
SHINGLE = 3  # words per shingle (the mixing in _shingle_hashes assumes 3)
#: Texts with fewer words get no signature: too short to call a copy by resemblance.
MIN_WORDS = 30
# Multiply-add-shift hashing of the 32-bit shingle hashes, h(x) = ((a*x + b) mod 2**64) >> 32 with
# random 64-bit a (odd) and b: a 2-independent family, one multiplication per value. Fixed seed:
# signatures are stored and must stay comparable across crawls and releases.
_RNG = np.random.RandomState(20_261_125)
_A = _RNG.randint(0, 2**63 - 1, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _RNG.randint(0, 2**63 - 1, size=NUM_PERM, dtype=np.uint64)
_B_COLUMN = _B[:, np.newaxis]
_MASK = np.uint64(0xFFFFFFFF)
_MIX = [np.uint64(x) for x in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)]


def content_hash(text: str) -> str | None:
    """Equal for copies that differ only in spacing, case or ASCII punctuation (see ``fingerprints``)."""
    return fingerprints(text)[0]


def _word_byte_table() -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    for char in b"0123456789abcdefghijklmnopqrstuvwxyz_":
        table[char] = True
    table[0x80:] = True  # bytes of non-ASCII characters: Cyrillic and accented letters are words
    return table


_WORD_BYTES = _word_byte_table()
# Polynomial hashing of words over their UTF-8 bytes, modulo 2**64 (numpy wraps): with an odd
# base, the base is invertible, so each word's hash comes out of one prefix sum.
_BASE = np.uint64(0x100000001B3)
_BASE_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))


def _word_hashes(text: str) -> npt.NDArray[np.uint64]:
    """64-bit hashes of the words of ``text`` (lower-cased runs of letters, digits and _), vectorised."""
    data = np.frombuffer(text.lower().encode("utf-8"), dtype=np.uint8)
    if not len(data):
        return np.zeros(0, dtype=np.uint64)
    inside = np.concatenate(([False], _WORD_BYTES[data], [False]))
    edges = np.flatnonzero(inside[1:] != inside[:-1])
    starts, ends = edges[0::2], edges[1::2]
    powers = np.cumprod(np.full(len(data), _BASE, dtype=np.uint64)) * _BASE_INVERSE  # BASE**i
    inverse = np.cumprod(np.full(len(data), _BASE_INVERSE, dtype=np.uint64)) * _BASE  # BASE**-i
    prefix = np.concatenate((np.zeros(1, dtype=np.uint64), np.cumsum((data.astype(np.uint64) + 1) * powers)))
    return (prefix[ends] - prefix[starts]) * inverse[starts]


def _shingle_hashes(word_hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """32-bit hashes of the word 3-shingles, mixed from the hashes of their words.

    A shingle that recurs is hashed again rather than deduplicated: it cannot change a minimum, and
    sorting to drop repeats cost as much as the rest of this function.
    """
    w = word_hashes
    mixed = w[:-2] * _MIX[0] + w[1:-1] * _MIX[1] + w[2:] * _MIX[2]
    return (mixed >> np.uint64(32)) ^ (mixed & _MASK)


def signature(text: str) -> bytes | None:
    """The MinHash (128 values of 4 bytes) of the text's word 3-shingles, or None for short texts."""
    return fingerprints(text)[1]


def fingerprints(text: str) -> tuple[str | None, bytes | None]:
    """(content hash, signature) of a text, from one pass over its words.

    The content hash (SHA-1 of the word hashes) is equal for copies that differ only in spacing,
    case or ASCII punctuation; None for a text without words.
    """
    word_hashes = _word_hashes(text)
    if not len(word_hashes):
        return None, None
    digest = hashlib.sha1(word_hashes.astype("<u8").tobytes()).hexdigest()  # noqa: S324 - identity, not security
    if len(word_hashes) < MIN_WORDS:
        return digest, None
    # One row per permutation, reduced along the row (a third of the time of reducing columns);
    # the shift commutes with the minimum, so it is applied to the 128 minima only.
    values = np.multiply.outer(_A, _shingle_hashes(word_hashes))
    values += _B_COLUMN
    return digest, (values.min(axis=1) >> np.uint64(32)).astype("<u4").tobytes()


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two signatures (the share of equal MinHash values)."""
    return float(np.mean(np.frombuffer(a, dtype="<u4") == np.frombuffer(b, dtype="<u4")))


# Odd 64-bit multipliers that fold the 4 rows of a band into one 64-bit key (wrapping arithmetic).
_FOLD = (np.random.RandomState(4_242).randint(1, 2**62, size=(1, 1, ROWS), dtype=np.uint64) | np.uint64(1)).astype(
    np.uint64
)


def _values(sig: bytes) -> np.ndarray:
    return np.frombuffer(sig, dtype="<u4")


def band_keys(values: np.ndarray) -> np.ndarray:
    """One 64-bit key per band for each signature: shape (n, BANDS) from (n, NUM_PERM) values."""
    rows = values.reshape(len(values), BANDS, ROWS).astype(np.uint64)
    with np.errstate(over="ignore"):
        return (rows * _FOLD).sum(axis=2, dtype=np.uint64)


class DuplicateIndex:
    """Banded LSH over the signatures of recent articles, queried for the first-seen copy of a new one.

    The articles loaded at crawl start are kept in numpy arrays (sorted band keys, searched with
    ``searchsorted``: about 1 KB per article); those stored during the crawl go to small
    dictionaries.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._ids = np.zeros(0, dtype=np.int64)
        self._roots = np.zeros(0, dtype=np.int64)
        self._values = np.zeros((0, NUM_PERM), dtype="<u4")
        self._sorted_keys = np.zeros((BANDS, 0), dtype=np.uint64)
        self._order = np.zeros((BANDS, 0), dtype=np.int32)
        self._live: list[dict[int, list[int]]] = [{} for _ in range(BANDS)]
        self._live_signatures: dict[int, bytes] = {}
        self._live_roots: dict[int, int] = {}

    @classmethod
    def build(cls, threshold: float, ids: list[int], roots: list[int], signatures: list[bytes]) -> DuplicateIndex:
        index = cls(threshold)
        if ids:
            index._ids = np.asarray(ids, dtype=np.int64)
            index._roots = np.asarray(roots, dtype=np.int64)
            index._values = np.frombuffer(b"".join(signatures), dtype="<u4").reshape(len(ids), NUM_PERM)
            keys = band_keys(index._values).T  # (BANDS, n)
            index._order = np.argsort(keys, axis=1, kind="stable").astype(np.int32)
            index._sorted_keys = np.take_along_axis(keys, index._order, axis=1)
        return index

    def __len__(self) -> int:
        return len(self._ids) + len(self._live_signatures)

    def compact(self) -> None:
        """Move the articles added since the last call into the arrays (after each stored batch).

        The dictionaries cost about 3 KB per article, the arrays about 1 KB; a re-sort of the
        band keys costs a few milliseconds per ten thousand articles.
        """
        if not self._live_signatures:
            return
        ids = sorted(self._live_signatures)
        merged = DuplicateIndex.build(
            self.threshold,
            [*self._ids.tolist(), *ids],
            [*self._roots.tolist(), *(self._live_roots[i] for i in ids)],
            [self._values.tobytes(), *(self._live_signatures[i] for i in ids)],
        )
        self._ids, self._roots, self._values = merged._ids, merged._roots, merged._values
        self._sorted_keys, self._order = merged._sorted_keys, merged._order
        self._live = [{} for _ in range(BANDS)]
        self._live_signatures, self._live_roots = {}, {}

    def highest_id(self) -> int:
        """The highest article id indexed (0 when empty)."""
        top = int(self._ids.max()) if len(self._ids) else 0
        return max(top, *self._live_signatures) if self._live_signatures else top

    def ids_above(self, article_id: int) -> set[int]:
        """The indexed article ids above ``article_id``."""
        return {*self._ids[self._ids > article_id].tolist(), *(i for i in self._live_signatures if i > article_id)}

    def add(self, article_id: int, sig: bytes, *, root: int | None = None) -> None:
        if article_id in self._live_signatures or len(sig) != NUM_PERM * 4:
            return
        for band, key in zip(self._live, band_keys(_values(sig)[None, :])[0].tolist(), strict=True):
            band.setdefault(key, []).append(article_id)
        self._live_signatures[article_id] = sig
        self._live_roots[article_id] = root if root is not None else article_id

    def remove(self, article_id: int) -> None:
        """Forget an article added during this crawl (its transaction was rolled back)."""
        sig = self._live_signatures.pop(article_id, None)
        if sig is None:
            return
        for band, key in zip(self._live, band_keys(_values(sig)[None, :])[0].tolist(), strict=True):
            ids = band.get(key)
            if ids and article_id in ids:
                ids.remove(article_id)
                if not ids:
                    del band[key]
        self._live_roots.pop(article_id, None)

    def find(self, sig: bytes) -> int | None:
        """The first-seen copy of the story of the earliest similar indexed article, if any."""
        if len(sig) != NUM_PERM * 4:
            return None
        found = self.find_indexed([sig])[0]
        return found if found is not None else self.find_live(sig)

    def find_indexed(self, signatures: Sequence[bytes | None]) -> list[int | None]:
        """``find`` among the articles in the arrays only, for many signatures at once.

        The arrays change only in ``compact``, so a batch of new articles is looked up in one pass
        (two sorted searches per band for the whole batch, instead of per article); ``find_live``
        then covers those added since.
        """
        found: list[int | None] = [None] * len(signatures)
        wanted = [(i, sig) for i, sig in enumerate(signatures) if sig is not None and len(sig) == NUM_PERM * 4]
        if not wanted or not len(self._ids):
            return found
        values = np.frombuffer(b"".join(sig for _, sig in wanted), dtype="<u4").reshape(len(wanted), NUM_PERM)
        keys = band_keys(values)  # (len(wanted), BANDS)
        candidates: list[set[int]] = [set() for _ in wanted]
        for band in range(BANDS):
            row = self._sorted_keys[band]
            lows = np.searchsorted(row, keys[:, band], side="left")
            highs = np.searchsorted(row, keys[:, band], side="right")
            for k in np.flatnonzero(highs > lows).tolist():
                candidates[k].update(self._order[band, lows[k] : highs[k]].tolist())
        for k, positions in enumerate(candidates):
            for position in sorted(positions, key=lambda p: int(self._ids[p])):
                if float(np.mean(self._values[position] == values[k])) >= self.threshold:
                    found[wanted[k][0]] = int(self._roots[position])
                    break
        return found

    def find_live(self, sig: bytes) -> int | None:
        """``find`` among the articles added since the last ``compact`` only."""
        if not self._live_signatures or len(sig) != NUM_PERM * 4:
            return None
        live: set[int] = set()
        for band, key in zip(self._live, band_keys(_values(sig)[None, :])[0].tolist(), strict=True):
            live.update(band.get(key, ()))
        for article_id in sorted(live):
            if similarity(sig, self._live_signatures[article_id]) >= self.threshold:
                return self._live_roots[article_id]
        return None
