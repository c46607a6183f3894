"""Settings of ``[digest]`` and ``[alerts]``: what the digest shows, where it goes, what raises an alert.

``[digest]`` with its ``smtp``, ``webhook`` and ``folder`` tables is a public contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from narrative_tracker.configmodel import Section


class SmtpSettings(Section):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    #: Password comes from NARRATIVE_TRACKER_SMTP_PASSWORD, never from the file.
    username: str | None = None
    #: With ``security = "none"`` a login would send the password in clear: refused unless this is
    #: true (only for a relay on the same host or a trusted private network).
    allow_login_without_tls: bool = False
    timeout: float = Field(default=30.0, gt=0)


class WebhookSettings(Section):
    url: str
    timeout: float = Field(default=15.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class FolderSettings(Section):
    path: Path = Path("digests")


class DigestSettings(Section):
    timezone: str = "UTC"
    recipients: list[str] = Field(default_factory=list)
    sender: str = "narrative-tracker@localhost"
    smtp: SmtpSettings | None = None
    webhook: WebhookSettings | None = None
    folder: FolderSettings | None = None
    #: Delivery attempts per channel before the channel is recorded as failed.
    max_attempts: int = Field(default=4, ge=1, le=20)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone such as 'Europe/Paris'") from exc
        return value


class AlertSettings(Section):
    #: Days of history a spike is measured against.
    baseline_days: int = Field(default=28, ge=7, le=365)
    #: Spike: at least this many flagged articles in the group that day ...
    spike_min_count: int = Field(default=5, ge=1)
    #: ... a Poisson tail probability below this, given the baseline share and the day's volume ...
    spike_p_value: float = Field(default=0.001, gt=0, lt=1)
    #: ... and a share at least this many times the baseline share.
    spike_min_ratio: float = Field(default=2.0, ge=1)
    #: Crossover: Russian state media count as pushing a narrative with this many promoting
    #: articles over the last 7 days.
    crossover_push_min: int = Field(default=3, ge=1)
    #: ... and Western, Ukrainian or independent Russian promoting articles count as a crossover when
    #: unusual for that group: Poisson P(X >= promoting) below this, given the group's promoting share
    #: over the baseline (a first promoting article where there were none passes).
    crossover_p_value: float = Field(default=0.05, gt=0, lt=1)
    #: New outlet / source health: an outlet needs this many days of history to be judged.
    min_history_days: int = Field(default=7, ge=1)
    #: Source health: an outlet publishing at least this many articles a day on average ...
    volume_min_daily: float = Field(default=10.0, gt=0)
    #: ... is flagged when its day falls below this fraction of that average (Poisson p below spike_p_value).
    volume_drop_ratio: float = Field(default=0.25, gt=0, lt=1)
    #: Source health: a feed with this many consecutive failures (or marked unhealthy) is reported.
    feed_failures: int = Field(default=3, ge=1)
