"""Word endings per language, from which search builds the other forms of a query word.

A query word's Snowball stem plus each ending is a form searched for (``search.word_forms``).
The lists follow the suffixes the Snowball algorithms strip (nouns, adjectives, participles,
verbs, reflexive verbs; English and French derivations). A form that no article has costs a
lookup (about 0.03 ms in FTS5), so they stay short: a few hundred at most per language.
"""

from __future__ import annotations


def _listed(endings: str) -> list[str]:
    """Endings written as one string, space-separated (a list literal would take a page each)."""
    return endings.split()


_RU_NOUN = _listed(
    "а ев ов ие ье е иями ями ами еи ии и ией ей ой ий й иям ям ием ем ам ом о у ах иях ях ы ь ию ью "
    "ю ия ья я"
)
_RU_ADJECTIVE = _listed(
    "ее ие ые ое ими ыми ей ий ый ой ем им ым ом его ого ему ому их ых ую юю ая яя ою ею"
)
_RU_VERB = _listed(
    "ла на ете йте ли й л ем н ло но ет ют ны ть ешь нно ила ыла ена ейте уйте ите или ыли ей уй ил "
    "ыл им ым ен ило ыло ено ят ует уют ит ыт ены ить ыть ишь ую ю ал ала али ать ает ают ял яла яли "
    "ять яет яют"
)
_RU_PARTICIPLE = [p + a for p in ("нн", "вш", "ющ", "ем") for a in _RU_ADJECTIVE]
_RU_REFLEXIVE = [v + r for v in ("ть", "л", "ла", "ло", "ли", "ет", "ют", "ит", "ят", "ат", "ут", "ешь", "ишь",
                                 "ем", "им", "ете", "ите", "ал", "ала", "али") for r in ("ся", "сь")]

_EN = _listed(
    "e s es ed d ing er ers est ly ies ied y i ion ions ation ations ment ments ness al ally ity "
    "ities ive ives ize ized izes izing ise ised ises ising ful ous ism ist ists ate ated ates ating "
    "able ably ance ances ence ences ant ants ent ents ency ancy ic ics ical ically ship less ee ees "
    "or ors ory ure ures iness ier iest ily ian ians ial ially ative ator ators ement ements ional"
)

_FR = _listed(
    "e es s x é ée ées és er ez ent ant ante antes ants ance ances ence ences ement ements ation "
    "ations ateur ateurs atrice atrices ité ités ique iques eur eurs euse euses aux al ale ales ion "
    "ions ais ait aient a as ât èrent ir it is ît issent issant issement ive ives if ifs isme ismes "
    "iste istes ienne iennes ien iens elle elles el els ère ères ier iers ière ières eux ette ettes "
    "ons iez erai eras era erons erez eront erait eraient i ie ies u ue ues us ure ures able ables "
    "ible ibles isation isations iser isé isée isés isées ement ements atif atifs ative atives"
)

ENDINGS: dict[str, tuple[str, ...]] = {
    "russian": tuple(dict.fromkeys(["", *_RU_NOUN, *_RU_ADJECTIVE, *_RU_VERB, *_RU_PARTICIPLE, *_RU_REFLEXIVE])),
    "english": tuple(dict.fromkeys(["", *_EN])),
    "french": tuple(dict.fromkeys(["", *_FR])),
}
