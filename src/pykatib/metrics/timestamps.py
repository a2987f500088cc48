"""RFC 3339 and epoch timestamps of observations, as Katib's collectors read and write them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

# Go's time.Parse(time.RFC3339Nano, ...): upper-case "T" and "Z", optional fraction of any length.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,
)


def utc_now() -> datetime:
    """The default clock of the parsers: now, in UTC."""
    return datetime.now(timezone.utc)


def parse_rfc3339(text: str) -> datetime | None:
    """``text`` as a UTC datetime, or None when it is not an RFC 3339 timestamp.

    Fractions beyond microseconds are truncated (Python's resolution, and that of Katib's MySQL
    ``DATETIME(6)`` column).
    """
    match = _RFC3339.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        if zulu:
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                micros,
                timezone.utc,
            )
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(-offset if sign == "-" else offset)
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, zone
        )
        return local.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # day 31 of April, hour 25, offset of 24h, ...
        return None


def from_epoch(seconds: float) -> datetime | None:
    """Seconds since the Unix epoch as a UTC datetime, or None when out of range."""
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def format_rfc3339(moment: datetime) -> str:
    """``moment`` in UTC with microseconds, e.g. ``2024-03-04T17:55:08.123456Z``.

    A naive datetime is taken as local time, as ``datetime.astimezone`` does. (isoformat, not
    strftime: several times cheaper, and every observation's time is formatted.)
    """
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")[:26] + "Z"
