"""The one way Docket writes times: RFC 3339, UTC, microseconds, trailing Z."""

from datetime import UTC, datetime


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> str:
    return format_time(datetime.now(UTC))


def from_timestamp(seconds: float) -> str:
    return format_time(datetime.fromtimestamp(seconds, UTC))
