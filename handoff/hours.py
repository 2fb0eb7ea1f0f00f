"""When human agents work: business hours such as "mon-fri 09:00-18:00; sat 10:00-14:00", or "always"."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import List, Optional, Tuple
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_ABBREVIATIONS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "et": ("E", "T", "K", "N", "R", "L", "P"),
    "ru": ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс"),
}
DEFAULT_HOURS = "mon-fri 09:00-18:00"
DEFAULT_TIMEZONE = "Europe/Tallinn"
_PART = re.compile(r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


class HoursError(ValueError):
    pass


def _time(text: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours == 24 and minutes == 0:
        return time.max
    return time(hours, minutes)


@dataclass(frozen=True)
class Span:
    first_day: int
    last_day: int
    start: time
    end: time

    def covers(self, moment: datetime) -> bool:
        return self.first_day <= moment.weekday() <= self.last_day and self.start <= moment.time() < self.end


@dataclass(frozen=True)
class BusinessHours:
    spans: Tuple[Span, ...]
    zone: ZoneInfo
    always: bool = False

    @classmethod
    def parse(cls, spec: str, zone_name: str = DEFAULT_TIMEZONE) -> "BusinessHours":
        try:
            zone = ZoneInfo(zone_name)
        except Exception as error:
            raise HoursError(f"unknown time zone {zone_name!r}") from error
        spec = spec.strip().lower()
        if spec in ("always", "24/7"):
            return cls((), zone, always=True)
        spans: List[Span] = []
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            match = _PART.match(part)
            if not match or match["first"] not in DAYS or (match["last"] and match["last"] not in DAYS):
                raise HoursError(f"cannot read business hours {part!r}: write e.g. 'mon-fri 09:00-18:00; sat 10:00-14:00'")
            first = DAYS.index(match["first"])
            last = DAYS.index(match["last"]) if match["last"] else first
            spans.append(Span(first, last, _time(match["start"]), _time(match["end"])))
        if not spans:
            raise HoursError("business hours are empty: write 'always' or e.g. 'mon-fri 09:00-18:00'")
        return cls(tuple(spans), zone)

    def is_open(self, now: Optional[datetime] = None) -> bool:
        if self.always:
            return True
        local = (now or datetime.now(timezone.utc)).astimezone(self.zone)
        return any(span.covers(local) for span in self.spans)

    def describe(self, language: str) -> str:
        """"Mon–Fri 9:00–18:00" in the customer's language."""
        days = DAY_ABBREVIATIONS.get(language, DAY_ABBREVIATIONS["en"])
        parts = []
        for span in self.spans:
            day_text = days[span.first_day] if span.first_day == span.last_day else f"{days[span.first_day]}–{days[span.last_day]}"
            end = "24:00" if span.end == time.max else f"{span.end.hour}:{span.end.minute:02d}"
            parts.append(f"{day_text} {span.start.hour}:{span.start.minute:02d}–{end}")
        return ", ".join(parts)
