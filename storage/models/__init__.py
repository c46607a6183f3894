"""Every table of the application; importing this package registers them all on ``Base.metadata``."""

from narrative_tracker.storage.models.accounts import ApiToken, WebUser
from narrative_tracker.storage.models.articles import Article, ArticleAlias
from narrative_tracker.storage.models.base import Base, UTCDateTime, table_of, utc_now
from narrative_tracker.storage.models.classifications import Classification, ClassifiedArticle, ModelVersion
from narrative_tracker.storage.models.labels import Label, LabelledText
from narrative_tracker.storage.models.queue import DomainPace, QueueTask, QueueWorker
from narrative_tracker.storage.models.runs import JobRun, SchedulerInstance
from narrative_tracker.storage.models.sources import Feed, Source
from narrative_tracker.storage.models.trends import Alert, DailyTrend, DigestDelivery

__all__ = [
    "Alert",
    "ApiToken",
    "Article",
    "ArticleAlias",
    "Base",
    "Classification",
    "ClassifiedArticle",
    "DailyTrend",
    "DigestDelivery",
    "DomainPace",
    "Feed",
    "JobRun",
    "Label",
    "LabelledText",
    "ModelVersion",
    "QueueTask",
    "QueueWorker",
    "SchedulerInstance",
    "Source",
    "UTCDateTime",
    "WebUser",
    "table_of",
    "utc_now",
]
