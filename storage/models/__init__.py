"""Every table of the application; importing this package registers them all on ``Base.metadata``."""

from storage.models.articles import Article
from storage.models.base import Base, UTCDateTime, utc_now
from storage.models.classifications import Classification, ClassifiedArticle, ModelVersion
from storage.models.labels import Label, LabelledText
from storage.models.runs import JobRun, SchedulerInstance
from storage.models.sources import Feed, Source
from storage.models.trends import Alert, DailyTrend, DigestDelivery

__all__ = [
    "Alert",
    "Article",
    "Base",
    "Classification",
    "ClassifiedArticle",
    "DailyTrend",
    "DigestDelivery",
    "Feed",
    "JobRun",
    "Label",
    "LabelledText",
    "ModelVersion",
    "SchedulerInstance",
    "Source",
    "UTCDateTime",
    "utc_now",
]
