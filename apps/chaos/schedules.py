"""When a saved experiment runs by itself: a cron expression in an IANA time zone (DST as the
zone has it), only inside the experiment's own window, given as HH:MM-HH:MM in that zone (it may
cross midnight; empty: any time). Pure: croniter and zoneinfo, no Django."""

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class ScheduleError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{name!r} is not a time zone (IANA names: UTC, Europe/Berlin, ...)", "timezone"
        ) from None


def check(schedule: str, timezone: str, window: str) -> None:
    zone(timezone)
    if schedule and (len(schedule.split()) != 5 or not croniter.is_valid(schedule)):
        raise ScheduleError(
            f"{schedule!r} is not a cron expression of five fields (e.g. '0 10 * * 1-5')",
            "schedule",
        )
    if window and not _WINDOW.match(window):
        raise ScheduleError(f"{window!r} is not a window HH:MM-HH:MM (e.g. 09:00-17:00)", "window")


def next_run(schedule: str, timezone: str, after: datetime) -> datetime | None:
    """The first time the cron expression fires after `after`, in UTC; None without one."""
    if not schedule:
        return None
    local = after.astimezone(zone(timezone))
    return croniter(schedule, local).get_next(datetime).astimezone(ZoneInfo("UTC"))


def inside(window: str, timezone: str, when: datetime) -> bool:
    """Whether `when` falls inside the window, read in the experiment's time zone."""
    if not window:
        return True
    m = _WINDOW.match(window)
    start = time(int(m.group(1)), int(m.group(2)))
    end = time(int(m.group(3)), int(m.group(4)))
    now = when.astimezone(zone(timezone)).time()
    if start <= end:
        return start <= now < end
    return now >= start or now < end  # crosses midnight
