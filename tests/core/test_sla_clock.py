"""The business-hours SLA clock (``core/sla.py``): worked examples across weekends, holidays, split hours and DST
changes, plus hypothesis properties (round trip, additivity, monotonicity, closed time never counts) and a
brute-force oracle that checks ``business_seconds_between`` minute by minute."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psa_chatops.core.sla import BusinessCalendar, add_business_seconds, business_seconds_between

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
HOUR = 3600.0
MICRO = timedelta(microseconds=1)
TOLERANCE = 1e-6

Hours = tuple[tuple[time, time], ...]


def _hours(*pairs: tuple[int, int]) -> Hours:
    return tuple((time(start), time(end)) for start, end in pairs)


def _week(workday: Hours, saturday: Hours = (), sunday: Hours = ()) -> tuple[Hours, ...]:
    return (workday,) * 5 + (saturday, sunday)


OFFICE = BusinessCalendar()  # Monday to Friday 08:00-17:00, Europe/Berlin, no holidays
EASTER_2026 = frozenset({date(2026, 4, 3), date(2026, 4, 6)})  # Good Friday, Easter Monday
OFFICE_EASTER = BusinessCalendar(holidays=EASTER_2026)
# Split days, a Saturday morning, and Sunday windows that straddle the DST switch (00:00-04:00) and end at
# midnight (20:00-24:00). No boundary sits inside a skipped or repeated local hour.
SPLIT_BERLIN = BusinessCalendar(
    timezone="Europe/Berlin",
    weekly=_week(_hours((8, 12), (13, 17)), saturday=_hours((9, 13)), sunday=_hours((0, 4), (20, 0))),
    holidays=EASTER_2026 | {date(2026, 5, 1), date(2026, 12, 25), date(2027, 1, 1)},
)
SPLIT_NEW_YORK = BusinessCalendar(
    timezone="America/New_York",
    weekly=_week(_hours((9, 12), (13, 18)), sunday=_hours((0, 4), (20, 0))),
    holidays=frozenset({date(2026, 7, 3), date(2026, 11, 26), date(2026, 12, 25)}),
)
ALWAYS_UTC = BusinessCalendar.around_the_clock()
ALWAYS_BERLIN = BusinessCalendar.around_the_clock("Europe/Berlin")
ALWAYS_NEW_YORK = BusinessCalendar.around_the_clock("America/New_York")

CALENDARS = (OFFICE, OFFICE_EASTER, SPLIT_BERLIN, SPLIT_NEW_YORK, ALWAYS_UTC, ALWAYS_BERLIN, ALWAYS_NEW_YORK)
AROUND_THE_CLOCK = (ALWAYS_UTC, ALWAYS_BERLIN, ALWAYS_NEW_YORK)

# DST switches (as UTC instants) that the generated datetimes cluster around.
DST_SWITCHES = (
    datetime(2025, 3, 30, 1, tzinfo=UTC),  # Berlin spring forward
    datetime(2025, 10, 26, 1, tzinfo=UTC),  # Berlin fall back
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 3, 8, 7, tzinfo=UTC),  # New York spring forward
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # New York fall back
    datetime(2027, 3, 14, 7, tzinfo=UTC),
    datetime(2027, 10, 31, 1, tzinfo=UTC),  # Berlin fall back
)
ZONES = (UTC, BERLIN, NEW_YORK, TOKYO)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def _wide_moments() -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(2024, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; timezones= makes results aware
        max_value=datetime(2028, 12, 31),  # noqa: DTZ001
        timezones=st.sampled_from(ZONES),
    )


def _near_dst() -> st.SearchStrategy[datetime]:
    """A moment within four days of a DST switch, expressed in a random zone."""
    return st.builds(
        lambda switch, offset, zone: (switch + timedelta(microseconds=offset)).astimezone(zone),
        st.sampled_from(DST_SWITCHES),
        st.integers(-4 * 86_400_000_000, 4 * 86_400_000_000),
        st.sampled_from(ZONES),
    )


moments = st.one_of(_wide_moments(), _near_dst())
calendars = st.sampled_from(CALENDARS)
# Up to two weeks of wall time; drawn in whole microseconds so that the datetime arithmetic is exact.
spans = st.integers(0, 14 * 86_400_000_000).map(lambda us: timedelta(microseconds=us))
# Up to ~450 business hours: several weeks on an office calendar, with fractional seconds.
business_amounts = st.one_of(
    st.integers(0, 1_620_000_000_000).map(lambda us: us / 1_000_000),
    st.floats(min_value=0.0, max_value=1_620_000.0, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, HOUR, 4 * HOUR, 9 * HOUR, 16 * HOUR, 40 * HOUR]),
)


def later(moment: datetime, span: timedelta) -> datetime:
    """``span`` of real elapsed time after ``moment``, in the same zone.

    Plain ``moment + span`` is wall-clock arithmetic for ``ZoneInfo`` datetimes (and drops ``fold``), so across a
    DST change it can even land before ``moment``.
    """
    return (moment.astimezone(UTC) + span).astimezone(moment.tzinfo)


def at(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)


# --- worked examples ----------------------------------------------------------------------------------------------


def test_friday_afternoon_plus_two_business_hours_is_monday_nine() -> None:
    friday = at(BERLIN, 2026, 3, 6, 16)

    due = add_business_seconds(friday, 2 * HOUR, OFFICE)

    assert due == at(BERLIN, 2026, 3, 9, 9)
    assert business_seconds_between(friday, due, OFFICE) == 2 * HOUR


def test_result_is_utc_and_independent_of_the_start_timezone() -> None:
    friday = at(BERLIN, 2026, 3, 6, 16)

    results = {add_business_seconds(friday.astimezone(zone), 2 * HOUR, OFFICE) for zone in ZONES}

    assert results == {datetime(2026, 3, 9, 8, tzinfo=UTC)}
    assert all(r.utcoffset() == timedelta(0) for r in results)


@pytest.mark.parametrize(
    ("friday", "monday_nine_utc"),
    [
        pytest.param(at(BERLIN, 2026, 3, 27, 16), datetime(2026, 3, 30, 7, tzinfo=UTC), id="spring-forward-weekend"),
        pytest.param(at(BERLIN, 2026, 10, 23, 16), datetime(2026, 10, 26, 8, tzinfo=UTC), id="fall-back-weekend"),
    ],
)
def test_friday_plus_two_hours_across_a_dst_weekend(friday: datetime, monday_nine_utc: datetime) -> None:
    due = add_business_seconds(friday, 2 * HOUR, OFFICE)

    assert due == monday_nine_utc
    assert due.astimezone(BERLIN).time() == time(9)
    assert business_seconds_between(friday, due, OFFICE) == 2 * HOUR


@pytest.mark.parametrize("sunday", [date(2026, 3, 29), date(2026, 10, 25)], ids=["spring-forward", "fall-back"])
def test_office_calendar_on_dst_sunday_and_monday(sunday: date) -> None:
    start = datetime.combine(sunday, time(0), tzinfo=BERLIN)
    monday = start + timedelta(days=1)
    tuesday = start + timedelta(days=2)

    assert business_seconds_between(start, monday, OFFICE) == 0.0
    assert business_seconds_between(monday, tuesday, OFFICE) == 9 * HOUR
    assert add_business_seconds(start, HOUR, OFFICE) == monday.replace(hour=9)
    assert add_business_seconds(start, 9 * HOUR, OFFICE) == monday.replace(hour=17)


@pytest.mark.parametrize(
    ("calendar", "zone", "day", "expected_hours"),
    [
        pytest.param(ALWAYS_BERLIN, BERLIN, date(2026, 3, 29), 23, id="berlin-spring-forward"),
        pytest.param(ALWAYS_BERLIN, BERLIN, date(2026, 3, 30), 24, id="berlin-monday-after-spring-forward"),
        pytest.param(ALWAYS_BERLIN, BERLIN, date(2026, 10, 25), 25, id="berlin-fall-back"),
        pytest.param(ALWAYS_BERLIN, BERLIN, date(2026, 10, 26), 24, id="berlin-monday-after-fall-back"),
        pytest.param(ALWAYS_NEW_YORK, NEW_YORK, date(2026, 3, 8), 23, id="new-york-spring-forward"),
        pytest.param(ALWAYS_NEW_YORK, NEW_YORK, date(2026, 11, 1), 25, id="new-york-fall-back"),
        pytest.param(ALWAYS_UTC, BERLIN, date(2026, 3, 29), 23, id="utc-calendar-counts-wall-time"),
    ],
)
def test_around_the_clock_counts_real_elapsed_time_on_dst_days(
    calendar: BusinessCalendar, zone: ZoneInfo, day: date, expected_hours: int
) -> None:
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)

    assert business_seconds_between(start, end, calendar) == expected_hours * HOUR
    assert add_business_seconds(start, expected_hours * HOUR, calendar) == end


def test_night_window_across_spring_forward_is_three_hours() -> None:
    sunday = at(BERLIN, 2026, 3, 29)  # window 00:00-04:00 local, 02:00-03:00 does not exist

    assert business_seconds_between(sunday, sunday.replace(hour=12), SPLIT_BERLIN) == 3 * HOUR
    assert add_business_seconds(sunday, 1.5 * HOUR, SPLIT_BERLIN) == at(BERLIN, 2026, 3, 29, 1, 30)
    assert add_business_seconds(sunday, 2.5 * HOUR, SPLIT_BERLIN) == at(BERLIN, 2026, 3, 29, 3, 30)
    assert add_business_seconds(sunday, 3 * HOUR, SPLIT_BERLIN) == at(BERLIN, 2026, 3, 29, 4)


def test_night_window_across_fall_back_is_five_hours() -> None:
    sunday = at(BERLIN, 2026, 10, 25)  # window 00:00-04:00 local, 02:00-03:00 happens twice

    assert business_seconds_between(sunday, sunday.replace(hour=12), SPLIT_BERLIN) == 5 * HOUR
    first_half_past_two = add_business_seconds(sunday, 2.5 * HOUR, SPLIT_BERLIN)
    second_half_past_two = add_business_seconds(sunday, 3.5 * HOUR, SPLIT_BERLIN)
    assert first_half_past_two == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert second_half_past_two == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert first_half_past_two.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 10, 25, 2, 30)  # noqa: DTZ001
    assert second_half_past_two.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 10, 25, 2, 30)  # noqa: DTZ001
    assert add_business_seconds(sunday, 5 * HOUR, SPLIT_BERLIN) == at(BERLIN, 2026, 10, 25, 4)


def test_new_york_night_window_follows_its_own_dst_dates() -> None:
    spring_forward = at(NEW_YORK, 2026, 3, 8)
    assert business_seconds_between(spring_forward, spring_forward.replace(hour=12), SPLIT_NEW_YORK) == 3 * HOUR
    fall_back = at(NEW_YORK, 2026, 11, 1)
    assert business_seconds_between(fall_back, fall_back.replace(hour=12), SPLIT_NEW_YORK) == 5 * HOUR
    berlin_fall_back = at(NEW_YORK, 2026, 10, 25)  # an ordinary Sunday in New York
    assert business_seconds_between(berlin_fall_back, berlin_fall_back.replace(hour=12), SPLIT_NEW_YORK) == 4 * HOUR


def test_holiday_monday_is_skipped() -> None:
    thursday = at(BERLIN, 2026, 4, 2, 16)  # Good Friday and Easter Monday follow

    due = add_business_seconds(thursday, 2 * HOUR, OFFICE_EASTER)

    assert due == at(BERLIN, 2026, 4, 7, 9)
    assert business_seconds_between(thursday, due, OFFICE_EASTER) == 2 * HOUR
    assert business_seconds_between(at(BERLIN, 2026, 4, 3), at(BERLIN, 2026, 4, 7), OFFICE_EASTER) == 0.0
    assert business_seconds_between(at(BERLIN, 2026, 4, 6, 8), at(BERLIN, 2026, 4, 6, 17), OFFICE) == 9 * HOUR


def test_holiday_is_a_local_date_in_the_calendar_zone() -> None:
    new_year = BusinessCalendar(
        timezone="Europe/Berlin", weekly=ALWAYS_BERLIN.weekly, holidays=frozenset({date(2027, 1, 1)})
    )
    # 2026-12-31 23:00 UTC is already 2027-01-01 00:00 in Berlin; the holiday ends at 2027-01-01 23:00 UTC
    start = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)

    assert business_seconds_between(start, datetime(2027, 1, 1, 23, tzinfo=UTC), new_year) == 0.5 * HOUR
    assert add_business_seconds(start, HOUR, new_year) == datetime(2027, 1, 1, 23, 30, tzinfo=UTC)


def test_split_hours_skip_the_lunch_break() -> None:
    wednesday = date(2026, 3, 4)

    def local(hour: int, minute: int = 0) -> datetime:
        return datetime.combine(wednesday, time(hour, minute), tzinfo=BERLIN)

    assert add_business_seconds(local(11), 2 * HOUR, SPLIT_BERLIN) == local(14)
    assert add_business_seconds(local(11), HOUR, SPLIT_BERLIN) == local(12)  # the earliest moment: at closing
    assert add_business_seconds(local(12, 30), HOUR, SPLIT_BERLIN) == local(14)
    assert business_seconds_between(local(11, 30), local(13, 30), SPLIT_BERLIN) == HOUR
    assert business_seconds_between(local(12), local(13), SPLIT_BERLIN) == 0.0
    assert business_seconds_between(local(0), local(23, 59), SPLIT_BERLIN) == 8 * HOUR
    assert add_business_seconds(local(16), 2 * HOUR, SPLIT_BERLIN) == datetime.combine(
        wednesday + timedelta(days=1), time(9), tzinfo=BERLIN
    )


def test_an_opening_that_ends_at_midnight_runs_to_the_next_day() -> None:
    sunday_evening = at(BERLIN, 2026, 3, 1, 23)

    assert add_business_seconds(sunday_evening, HOUR, SPLIT_BERLIN) == at(BERLIN, 2026, 3, 2, 0)
    assert add_business_seconds(sunday_evening, HOUR + 1, SPLIT_BERLIN) == at(BERLIN, 2026, 3, 2, 8, 0, 1)
    # Sunday 20:00-24:00 plus Monday 08:00-12:00
    assert business_seconds_between(at(BERLIN, 2026, 3, 1, 12), at(BERLIN, 2026, 3, 2, 12), SPLIT_BERLIN) == 8 * HOUR


@pytest.mark.parametrize(
    ("calendar", "hours_per_week"),
    [(OFFICE, 45), (SPLIT_BERLIN, 5 * 8 + 4 + 8), (SPLIT_NEW_YORK, 5 * 8 + 8), (ALWAYS_BERLIN, 168)],
    ids=["office", "split-berlin", "split-new-york", "always-berlin"],
)
def test_an_ordinary_week(calendar: BusinessCalendar, hours_per_week: int) -> None:
    monday = datetime.combine(date(2026, 6, 8), time(0), tzinfo=calendar.zone)

    assert business_seconds_between(monday, monday + timedelta(days=7), calendar) == hours_per_week * HOUR


def test_zero_seconds_inside_opening_hours_is_the_start_itself() -> None:
    tuesday = at(BERLIN, 2026, 3, 3, 10, 15, 30, 123456)

    assert add_business_seconds(tuesday, 0, OFFICE) == tuesday


def test_negative_seconds_count_as_zero() -> None:
    tuesday = at(BERLIN, 2026, 3, 3, 10)

    assert add_business_seconds(tuesday, -HOUR, OFFICE) == tuesday
    assert add_business_seconds(at(BERLIN, 2026, 3, 7, 10), -HOUR, OFFICE) == at(BERLIN, 2026, 3, 9, 8)


@pytest.mark.parametrize("offset", [timedelta(0), -timedelta(hours=1)], ids=["equal", "reversed"])
def test_empty_or_reversed_range_counts_zero(offset: timedelta) -> None:
    tuesday = at(BERLIN, 2026, 3, 3, 10)

    assert business_seconds_between(tuesday, tuesday + offset, OFFICE) == 0.0
    assert business_seconds_between(tuesday, tuesday + offset, ALWAYS_UTC) == 0.0


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 3, 10)  # noqa: DTZ001 - the point of the test
    aware = at(BERLIN, 2026, 3, 3, 12)

    with pytest.raises(ValueError, match="naive datetime"):
        business_seconds_between(naive, aware, OFFICE)
    with pytest.raises(ValueError, match="naive datetime"):
        business_seconds_between(aware, naive, OFFICE)
    with pytest.raises(ValueError, match="naive datetime"):
        add_business_seconds(naive, HOUR, OFFICE)


def test_a_calendar_without_opening_hours_cannot_schedule() -> None:
    closed = BusinessCalendar(weekly=((),) * 7)

    assert business_seconds_between(at(BERLIN, 2026, 1, 1), at(BERLIN, 2027, 1, 1), closed) == 0.0
    with pytest.raises(ValueError, match="no opening hours"):
        add_business_seconds(at(BERLIN, 2026, 1, 1), 1, closed)


# --- properties ---------------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(start=moments, seconds=business_amounts, calendar=calendars)
def test_add_then_measure_round_trips(start: datetime, seconds: float, calendar: BusinessCalendar) -> None:
    due = add_business_seconds(start, seconds, calendar)

    assert due >= start
    assert abs(business_seconds_between(start, due, calendar) - seconds) <= TOLERANCE


@PROPERTY_SETTINGS
@given(start=moments, seconds=business_amounts, calendar=st.sampled_from(AROUND_THE_CLOCK))
def test_around_the_clock_adds_wall_time(start: datetime, seconds: float, calendar: BusinessCalendar) -> None:
    due = add_business_seconds(start, seconds, calendar)

    assert abs((due - start).total_seconds() - seconds) <= TOLERANCE


@PROPERTY_SETTINGS
@given(start=moments, micros=st.integers(1, 1_620_000_000_000), calendar=calendars)
def test_the_result_is_the_earliest_moment_and_lies_in_opening_hours(
    start: datetime, micros: int, calendar: BusinessCalendar
) -> None:
    seconds = micros / 1_000_000
    due = add_business_seconds(start, seconds, calendar)

    assert business_seconds_between(start, due - MICRO, calendar) < seconds
    # the last microsecond before the due moment is a business microsecond (open day, not a holiday)
    assert business_seconds_between(due - MICRO, due, calendar) == pytest.approx(1e-6, abs=1e-9)
    local = (due - MICRO).astimezone(calendar.zone)
    assert local.date() not in calendar.holidays
    assert calendar.weekly[local.weekday()]


@PROPERTY_SETTINGS
@given(a=moments, first=spans, second=spans, calendar=calendars)
def test_measuring_is_additive(a: datetime, first: timedelta, second: timedelta, calendar: BusinessCalendar) -> None:
    b = later(a, first)
    c = later(b, second)

    whole = business_seconds_between(a, c, calendar)
    parts = business_seconds_between(a, b, calendar) + business_seconds_between(b, c, calendar)

    assert parts == pytest.approx(whole, abs=TOLERANCE)


@PROPERTY_SETTINGS
@given(a=moments, first=spans, second=spans, calendar=calendars)
def test_measuring_is_monotonic_and_bounded_by_wall_time(
    a: datetime, first: timedelta, second: timedelta, calendar: BusinessCalendar
) -> None:
    b = later(a, first)
    c = later(b, second)

    to_b, to_c = business_seconds_between(a, b, calendar), business_seconds_between(a, c, calendar)

    assert 0.0 <= to_b <= to_c + TOLERANCE
    assert to_b <= first.total_seconds() + TOLERANCE
    assert business_seconds_between(b, c, calendar) <= second.total_seconds() + TOLERANCE
    if calendar in AROUND_THE_CLOCK:
        assert to_c == pytest.approx((c.astimezone(UTC) - a.astimezone(UTC)).total_seconds(), abs=TOLERANCE)


@PROPERTY_SETTINGS
@given(start=moments, amounts=st.lists(business_amounts, min_size=2, max_size=2), calendar=calendars)
def test_adding_is_monotonic(start: datetime, amounts: list[float], calendar: BusinessCalendar) -> None:
    low, high = sorted(amounts)

    assert add_business_seconds(start, low, calendar) <= add_business_seconds(start, high, calendar)


@PROPERTY_SETTINGS
@given(start=moments, first=business_amounts, second=business_amounts, calendar=calendars)
def test_adding_in_two_steps_equals_adding_once(
    start: datetime, first: float, second: float, calendar: BusinessCalendar
) -> None:
    halfway = add_business_seconds(start, first, calendar)
    two_steps = add_business_seconds(halfway, second, calendar)

    assert abs(business_seconds_between(start, two_steps, calendar) - (first + second)) <= 2 * TOLERANCE


def _with_holidays(calendar: BusinessCalendar, holidays: frozenset[date]) -> BusinessCalendar:
    return BusinessCalendar(timezone=calendar.timezone, weekly=calendar.weekly, holidays=calendar.holidays | holidays)


def _local_day(day: date, calendar: BusinessCalendar) -> tuple[datetime, datetime]:
    zone = calendar.zone
    return datetime.combine(day, time(0), tzinfo=zone), datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


@PROPERTY_SETTINGS
@given(
    a=moments,
    span=spans,
    calendar=calendars,
    holiday_offsets=st.frozensets(st.integers(-1, 15), max_size=6),
)
def test_holidays_never_count(
    a: datetime, span: timedelta, calendar: BusinessCalendar, holiday_offsets: frozenset[int]
) -> None:
    b = later(a, span)
    first_day = a.astimezone(calendar.zone).date()
    holidays = frozenset(first_day + timedelta(days=n) for n in holiday_offsets) - calendar.holidays
    with_holidays = _with_holidays(calendar, holidays)

    removed = 0.0
    for day in holidays:
        day_start, day_end = _local_day(day, calendar)
        removed += business_seconds_between(max(a, day_start), min(b, day_end), calendar)
        assert business_seconds_between(day_start, day_end, with_holidays) == 0.0

    assert business_seconds_between(a, b, with_holidays) == pytest.approx(
        business_seconds_between(a, b, calendar) - removed, abs=TOLERANCE
    )


@PROPERTY_SETTINGS
@given(start=moments, calendar=calendars, weekday=st.integers(0, 6), span=spans)
def test_closed_weekdays_never_count(
    start: datetime, calendar: BusinessCalendar, weekday: int, span: timedelta
) -> None:
    weekly = tuple(() if i == weekday else hours for i, hours in enumerate(calendar.weekly))
    closed_one_day = BusinessCalendar(timezone=calendar.timezone, weekly=weekly, holidays=calendar.holidays)
    end = later(start, span)

    day = start.astimezone(calendar.zone).date()
    while day.weekday() != weekday:
        day += timedelta(days=1)
    day_start, day_end = _local_day(day, calendar)
    assert business_seconds_between(day_start, day_end, closed_one_day) == 0.0
    assert business_seconds_between(start, end, closed_one_day) <= business_seconds_between(start, end, calendar) + (
        TOLERANCE
    )
    if any(weekly):
        due = add_business_seconds(start, 3 * HOUR, closed_one_day)
        assert (due - MICRO).astimezone(calendar.zone).weekday() != weekday


# --- brute-force oracle -------------------------------------------------------------------------------------------


def _open_at(moment: datetime, calendar: BusinessCalendar) -> bool:
    """Whether the calendar is open at this instant, judged from the local wall clock alone."""
    local = moment.astimezone(calendar.zone)
    if local.date() in calendar.holidays:
        return False
    now = local.time()
    return any(start <= now and (end == time(0) or now < end) for start, end in calendar.weekly[local.weekday()])


@settings(max_examples=60, deadline=None)
@given(
    start=moments.map(lambda m: m.astimezone(UTC).replace(second=0, microsecond=0)),
    minutes=st.integers(0, 3 * 24 * 60),
    calendar=calendars,
)
def test_measuring_matches_a_minute_by_minute_count(start: datetime, minutes: int, calendar: BusinessCalendar) -> None:
    end = start + timedelta(minutes=minutes)
    expected = sum(_open_at(start + timedelta(minutes=m), calendar) for m in range(minutes))

    assert business_seconds_between(start, end, calendar) == expected * 60.0
