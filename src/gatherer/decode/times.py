"""Time arithmetic of decoded rows: the trading day of a receive time, and the instant of an
exchange time field (``<field>_ts``).

Pure functions of values and cached zone offsets; nothing here reads a clock or a frame.

Time fields without a date (every KRX TR, and OVH's ``hotime``) take their date from the receive
time in their wall clock: the latest of (receive date + 1, receive date, receive date - 1) that is not
more than ``FUTURE_SLACK_S`` after the receive time. So "235959" received at 00:00:02 belongs to the
previous date, "000000" received at 23:59:59.5 (venue clock slightly ahead) to the next, and any time
up to 23 hours old to the date it happened on. A time field with a date field (overseas ``trdtm``
with ``ovsdate``) is read on that date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from gatherer.clock import seoul_ns, trading_day_of
from gatherer.decode.fields import epoch_day, seconds_of_day

FUTURE_SLACK_S = 3600
"""How far after the receive time a dateless exchange time may lie (venue clock ahead of ours)."""

_NS = 1_000_000_000
_HOUR_NS = 3600 * _NS
_DAY_S = 86_400
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


class Zone:
    """UTC offsets of one IANA zone, cached by UTC hour and by local (day, hour)."""

    def __init__(self, name: str) -> None:
        self.tz = ZoneInfo(name)
        self._by_utc_hour: dict[int, int] = {}
        self._by_local_hour: dict[tuple[int, int], int] = {}

    def local_day(self, recv_ns: int) -> int:
        """Days since 1970-01-01 of the local date at a UTC instant."""
        hour = recv_ns // _HOUR_NS
        off = self._by_utc_hour.get(hour)
        if off is None:
            at = dt.datetime.fromtimestamp(hour * 3600, tz=self.tz)
            off = self._by_utc_hour[hour] = int(at.utcoffset().total_seconds())  # type: ignore[union-attr]
        return (recv_ns // _NS + off) // _DAY_S

    def utc_s(self, day: int, sod: int) -> int:
        """UTC seconds of a local wall time (fold=0: the first of an ambiguous hour, and a time in a
        spring-forward gap is read with the offset before the change)."""
        key = (day, sod // 3600)
        off = self._by_local_hour.get(key)
        if off is None:
            local = dt.datetime.combine(
                dt.date.fromordinal(day + _EPOCH_ORDINAL), dt.time(sod // 3600), tzinfo=self.tz
            )
            off = self._by_local_hour[key] = int(local.utcoffset().total_seconds())  # type: ignore[union-attr]
        return day * _DAY_S + sod - off


def timestamps(
    times: Sequence[str | None], dates: Sequence[str | None] | None, recv: Sequence[int], zone: Zone
) -> list[int | None]:
    """``<field>_ts`` values (UTC ns) for one time column; see the module docstring for the date rule."""
    out: list[int | None] = []
    dated: dict[tuple[str, str], int] = {}
    undated: dict[tuple[str, int], tuple[int, int, int]] = {}
    for i, t in enumerate(times):
        if t is None:
            out.append(None)
            continue
        d = dates[i] if dates is not None else None
        if d is not None:
            ts = dated.get((t, d))
            if ts is None:
                ts = dated[(t, d)] = zone.utc_s(epoch_day(d) or 0, seconds_of_day(t))
            out.append(ts * _NS)
            continue
        r = recv[i]
        day = zone.local_day(r)
        cands = undated.get((t, day))
        if cands is None:
            sod = seconds_of_day(t)
            cands = undated[(t, day)] = (
                zone.utc_s(day + 1, sod),
                zone.utc_s(day, sod),
                zone.utc_s(day - 1, sod),
            )
        limit = r // _NS + FUTURE_SLACK_S
        ts = cands[0] if cands[0] <= limit else cands[1] if cands[1] <= limit else cands[2]
        out.append(ts * _NS)
    return out


def trading_days(recv: Sequence[int], cutoff: dt.time) -> list[int]:
    """The trading day (days since 1970-01-01) of each receive time, for one market's cutoff."""
    out: list[int] = []
    lo = hi = 0
    day = 0
    for r in recv:
        if not lo <= r < hi:
            date = trading_day_of(r, cutoff)
            lo = seoul_ns(date, cutoff)
            hi = seoul_ns(date + dt.timedelta(days=1), cutoff)
            day = date.toordinal() - _EPOCH_ORDINAL
        out.append(day)
    return out
