"""The out-of-the-box model on texts it never saw: right coarse narrative, right stance, and
nothing flagged in neutral news, in English, French and Russian."""

from __future__ import annotations

import pytest

from narrative_tracker.classifier.dataset import compose_document
from narrative_tracker.classifier.inference import Explainer, analyse, split_sentences
from narrative_tracker.classifier.taxonomy import load_taxonomy

from helpers.models import ootb_pipeline

ARMS = "discrediting-the-west/western-arms-pause-is-russian-victory"

REFUTING = {
    "fr": (
        "Les médias russes ont présenté la pause de certaines livraisons d'armes américaines comme une capitulation "
        "de Washington face au Kremlin. En réalité, selon le Pentagone, cette pause était logistique, et l'aide "
        "militaire à l'Ukraine continue."
    ),
    "ru": (
        "Российские пропагандисты утверждают, что пауза в поставках оружия означает капитуляцию Запада. "
        "На самом деле пауза носит технический характер, и помощь Украине продолжается."
    ),
    "en": (
        "Russian state TV claimed the US decision to pause some weapons deliveries showed the West capitulating to "
        "Moscow. Officials say the pause was a routine review of stockpiles and assistance to Ukraine will continue."
    ),
}
PROMOTING = {
    "ru": (
        "Приостановка поставок американского оружия Киеву показывает, что Вашингтон уступил требованиям Кремля. "
        "По мнению депутата, без западных ракет украинская армия продержится не больше полугода. Эксперты называют "
        "это стратегической победой России и признаком усталости Запада от Украины."
    ),
    "en": (
        "America has stopped sending weapons to Kyiv. This is a huge victory for Russia: Washington gave in and "
        "Ukraine's army will collapse within months."
    ),
    "fr": (
        "Washington a suspendu ses envois d'armes à Kiev : c'est une victoire éclatante de la Russie, l'Occident a "
        "cédé et l'armée ukrainienne ne tiendra plus longtemps."
    ),
}
OTHER_NARRATIVES = [
    (
        "en",
        "The neo-Nazi regime in Kyiv honours Hitler's collaborators and its battalions wear SS symbols.",
        "discrediting-ukraine",
    ),
    (
        "ru",
        "Если НАТО не остановится, Россия применит ядерное оружие, и Европа исчезнет.",
        "amplifying-war-related-fears",
    ),
    (
        "fr",
        "Les grands médias occidentaux mentent sans cesse et cachent la vérité sur la guerre à leurs lecteurs.",
        "distrust-towards-media",
    ),
]
NEUTRAL = [
    "The local football club signed a new goalkeeper ahead of the season opener on Saturday.",
    "The regional council voted to extend the tram line to the airport, with works due to start next year.",
    "Le festival de cinéma de Cannes a dévoilé sa sélection officielle, avec vingt films en compétition.",
    "Les élus municipaux ont voté la création d'une piste cyclable le long du canal.",
    "В Казани открылась новая библиотека, где жители смогут бесплатно посещать лекции и мастер-классы.",
    "Сборная России по хоккею обыграла соперника со счётом 4:2 в товарищеском матче.",
    # Sentences the demo once flagged the like of (weather, economy, culture, local politics).
    "Le conseil départemental a voté la rénovation de trois collèges et une navette gratuite le samedi.",
    "Les températures remonteront dès jeudi, avec un grand soleil sur l'ensemble du pays.",
    "The pianist's recital at the concert hall drew a full house and three encores.",
    "The county council will hold a public consultation on the new waste collection timetable next month.",
    "Городская администрация Перми объявила конкурс на благоустройство набережной.",
    "Инфляция в регионе замедлилась до четырёх процентов, сообщил статистический комитет.",
]


@pytest.fixture
def model():
    """The out-of-the-box model, fitted once per session (helpers.models caches it)."""
    return ootb_pipeline()


def _flags(model, text):
    taxonomy = load_taxonomy()
    return analyse(model, [compose_document("", text)], explainer=Explainer(model), taxonomy=taxonomy)[0]


@pytest.mark.parametrize("lang", ["fr", "ru", "en"])
def test_an_article_refuting_the_arms_pause_framing_is_flagged_and_never_promotes(model, lang):
    flags = {f.id: f for f in _flags(model, REFUTING[lang])}
    assert ARMS in flags and "discrediting-the-west" in flags
    assert flags[ARMS].stance in ("refutes", "reports")
    assert flags["discrediting-the-west"].stance in ("refutes", "reports")


@pytest.mark.parametrize("lang", ["ru", "en", "fr"])
def test_a_text_pushing_the_arms_pause_framing_promotes_it(model, lang):
    flags = {f.id: f for f in _flags(model, PROMOTING[lang])}
    assert flags[ARMS].stance == "promotes"
    assert flags[ARMS].evidence and len(flags[ARMS].evidence) <= 3
    assert all(sentence in PROMOTING[lang] for sentence in flags[ARMS].evidence)
    assert flags[ARMS].terms


@pytest.mark.parametrize(("lang", "text", "coarse"), OTHER_NARRATIVES)
def test_other_narratives_get_the_right_coarse_narrative(model, lang, text, coarse):
    flags = _flags(model, text)
    assert flags and flags[0].id.split("/")[0] == coarse
    assert all(f.stance == "promotes" for f in flags)


@pytest.mark.parametrize("text", NEUTRAL)
def test_neutral_news_is_not_flagged(model, text):
    assert _flags(model, text) == []


def test_flags_come_highest_score_first_with_both_levels_consistent(model):
    flags = _flags(model, PROMOTING["ru"])
    assert [f.score for f in flags] == sorted((f.score for f in flags), reverse=True)
    coarse = {f.id for f in flags if "/" not in f.id}
    assert all(f.id.split("/")[0] in coarse for f in flags if "/" in f.id)


def test_sentences_are_split_on_end_marks_and_lines():
    assert split_sentences("Один. Два! «Три?» Four\nFive") == ["Один.", "Два!", "«Три?»", "Four", "Five"]


def test_an_empty_batch_gives_no_predictions(model):
    assert analyse(model, []) == []
