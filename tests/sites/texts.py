"""Article texts of the fixture news site, written for the tests (paragraphs, no markup)."""

from __future__ import annotations

WIRE_TITLE = "Pause in US weapons deliveries leaves Kyiv short of air defence interceptors"
WIRE = [
    "WASHINGTON, July 2 - The United States has paused some deliveries of air defence interceptors and "
    "precision munitions to Ukraine after a Pentagon review of its own stockpiles, two officials familiar "
    "with the decision said on Wednesday.",
    "The pause affects Patriot interceptors, Hellfire missiles and artillery shells that had been promised "
    "under earlier aid packages, the officials said, speaking on condition of anonymity because the "
    "decision has not been announced publicly.",
    "A Pentagon spokesperson said the review was meant to make sure that American forces keep the "
    "readiness they need, and that the department continued to provide the president with options to "
    "support Ukraine.",
    "Ukrainian officials said they had not been formally notified and asked for talks with their American "
    "counterparts to clarify the schedule of deliveries, stressing that the interceptors protect cities "
    "from nightly missile and drone attacks.",
    "European governments said they would try to fill part of the gap from their own stocks, although "
    "several defence ministers warned that European production of interceptors remains far below what "
    "Ukraine uses each month.",
]

REWRITE_TITLE = "US halts some arms shipments to Ukraine after stockpile review"
REWRITE = [
    "WASHINGTON - The United States has halted some deliveries of air defence interceptors and "
    "precision munitions to Ukraine after a Pentagon review of its own stockpiles, two officials familiar "
    "with the decision said on Wednesday.",
    "The pause affects Patriot interceptors, Hellfire missiles and artillery shells that had been promised "
    "under earlier aid packages, the officials said, speaking on condition of anonymity because the "
    "decision has not yet been made public.",
    "A Pentagon spokesperson said the review was meant to make sure that American forces keep the "
    "readiness they need, and that the department continued to provide the president with options to "
    "support Ukraine.",
    "Ukrainian officials said they had not been formally notified and asked for talks with their American "
    "counterparts to clarify the schedule of deliveries, stressing that the interceptors protect cities "
    "from nightly missile and drone attacks.",
    "European governments said they would try to fill part of the gap from their own stocks.",
]

OTHER_TITLE = "European ministers pledge new air defence funds for Ukraine"
OTHER = [
    "BRUSSELS - Defence ministers from a dozen European countries agreed on Thursday to pool money for "
    "new air defence systems for Ukraine, as Kyiv warned that its stocks of interceptors were running low.",
    "The fund, to be managed by the European Union, will buy launchers and missiles from European "
    "manufacturers, with the first deliveries expected before the winter, according to a statement "
    "published after the meeting.",
    "Several ministers said the initiative was not a response to any single decision in Washington but "
    "part of a longer effort to build up Europe's own defence industry and to make support for Ukraine "
    "less dependent on American stocks.",
    "Ukraine's defence minister thanked the participants and said the country needed at least seven more "
    "batteries to protect its largest cities and its energy infrastructure from Russian strikes.",
]

WEST_TITLE = "City council approves new tram line after two years of debate"
WEST = [
    "The city council approved on Tuesday the construction of a new tram line linking the northern "
    "suburbs to the central station, ending two years of debate about its route and its cost.",
    "The line will be nine kilometres long with fourteen stops, and the first trams are expected to run "
    "in four years. The council estimates the cost at 420 million euros, shared with the regional "
    "government.",
    "Opponents had argued that buses would serve the same neighbourhoods for a fraction of the price, "
    "while residents of the northern suburbs said they had waited decades for a fast connection to the "
    "city centre.",
    "Construction of the depot will start next spring. Traffic on the main avenue will be reduced to one "
    "lane in each direction during the works, which are planned to last three years.",
]

FR_TITLE = "Le conseil régional adopte un plan pour les transports scolaires"
FR = [
    "Le conseil régional a adopté jeudi un plan de modernisation des transports scolaires qui prévoit "
    "le remplacement de la moitié des autocars d'ici à trois ans et la création de nouvelles lignes dans "
    "les communes rurales.",
    "Selon la présidente de la commission des transports, plus de quarante mille élèves empruntent chaque "
    "jour ces autocars, dont certains ont plus de quinze ans. Le budget prévu s'élève à cent vingt "
    "millions d'euros.",
    "Les associations de parents d'élèves ont salué une décision attendue depuis longtemps, tout en "
    "regrettant que les horaires des lignes existantes ne soient pas revus dès la prochaine rentrée.",
    "Les premiers autocars électriques seront mis en service au printemps dans deux départements pilotes, "
    "avant une généralisation progressive à l'ensemble de la région.",
]

RU_CP1251_TITLE = "Пауза в поставках оружия"
RU_CP1251 = [
    "Москва, 5 июля. Приостановка поставок американского оружия Киеву показывает, что Вашингтон уступил "
    "требованиям Кремля, заявил депутат Государственной думы.",
    "По его мнению, без западных ракет украинская армия продержится не больше полугода, а европейские "
    "страны не смогут заменить американские поставки.",
    "Эксперты называют это стратегической победой России и признаком усталости Запада от Украины. "
    "Официальные лица в Вашингтоне утверждают, что пауза носит технический характер.",
]

RU_KOI8_TITLE = "В Подмосковье открыли новую школу"
RU_KOI8 = [
    "В подмосковном городе открылась новая школа на тысячу учеников. В здании есть бассейн, спортивный "
    "зал, библиотека и лаборатории для занятий физикой и химией.",
    "Глава округа рассказал, что строительство заняло два года, а первые ученики придут в школу первого "
    "сентября. Набор в первые классы уже завершён.",
    "Родители отмечают, что новая школа поможет разгрузить соседние учебные заведения, где занятия "
    "сейчас проходят в две смены.",
]

SITEMAP_TITLE = "Harbour authority opens a new ferry terminal"
SITEMAP = [
    "The harbour authority opened a new ferry terminal on Monday, doubling the number of daily crossings "
    "to the islands and replacing a building that had been in use since the nineteen sixties.",
    "The terminal has a waiting hall for six hundred passengers, covered bicycle parking and charging points "
    "for the electric ferries that will enter service next year, the authority said in a statement.",
    "Local businesses expect more visitors during the summer season, while residents of the islands hope "
    "that the extra crossings will make it easier to commute to the mainland for work.",
]

LISTING_ONE_TITLE = "Library extends opening hours during the exam period"
LISTING_ONE = [
    "The central library will stay open until midnight during the four weeks of the exam period, the "
    "university announced, after students collected more than three thousand signatures for longer hours.",
    "Extra staff will be hired for the evening shifts, and the reading rooms on the second floor will be "
    "reserved for silent study. The cafeteria will also extend its hours until ten in the evening.",
    "The university said it would review the arrangement after the exams and decide whether to keep the "
    "longer opening hours for the whole academic year.",
]

LISTING_TWO_TITLE = "Farmers report an early start to the grape harvest"
LISTING_TWO = [
    "Wine growers in the southern valleys started the grape harvest two weeks earlier than usual this year, "
    "after a hot and dry summer that accelerated the ripening of the fruit.",
    "Producers said the quality of the grapes was good but the volume was lower, as the lack of rain had "
    "reduced the size of the berries in the vineyards that are not irrigated.",
    "The regional association of producers expects the total harvest to be about fifteen per cent smaller "
    "than last year, with prices for bulk wine likely to rise in the coming months.",
]
