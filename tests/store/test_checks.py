"""Check results in the store, on SQLite and PostgreSQL: batches, status,
rollups, sealing, uptime windows, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.checker.housekeeping import Housekeeper, Retention
from sitewatch.store import marks, results, rollups, series, tables
from sitewatch.store import status as status_store
from sitewatch.store import summary as summary_store
from sitewatch.store import uptime as uptime_store
from sitewatch.store import windows as win
from sitewatch.store.engine import DatabaseError, begin_write
from sitewatch.store.results import hourly_increments, status_rounds
from sitewatch.store.uptime import Uptime
from sitewatch.store.windows import DAY, HOUR

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def row(
    website_id: int, at: datetime, ok: bool = True, ms: float | None = 100.0, **extra: Any
) -> dict[str, Any]:
    base = dict.fromkeys(results.HISTORY_FIELDS)
    base.update(
        website_id=website_id,
        checked_at=at,
        ok=ok,
        response_time_ms=ms,
        status_code=200 if ok else 503,
    )
    if not ok:
        base.update(error_kind="status", error_message="got 503, expected 2xx")
    base.update(extra)
    return base


async def add_websites(engine: AsyncEngine, *keys: str) -> dict[str, int]:
    async with engine.begin() as conn:
        for key in keys:
            await conn.execute(
                insert(tables.websites).values(
                    key=key,
                    name=key,
                    url=f"http://{key}.test/",
                    active=True,
                    interval_seconds=30,
                    tags=[],
                    spec={},
                    spec_hash="x",
                    source_file="monitors.yaml",
                    created_at=T0,
                    updated_at=T0,
                )
            )
        result = await conn.execute(select(tables.websites.c.key, tables.websites.c.id))
        return {r[0]: r[1] for r in result}


def test_hourly_increments_sum_per_website_and_hour() -> None:
    rows = [
        row(1, T0),
        row(1, T0 + timedelta(minutes=59), ok=False, ms=300),
        row(1, T0 + HOUR),
        row(2, T0, ms=None),
    ]
    got = {(r["website_id"], r["bucket"]): r for r in hourly_increments(rows)}
    assert got[(1, T0)] | {} == {
        "website_id": 1,
        "bucket": T0,
        "checks": 2,
        "failures": 1,
        "timed": 2,
        "sum_ms": 400.0,
        "max_ms": 300,
    }
    assert got[(1, T0 + HOUR)]["checks"] == 1
    assert got[(2, T0)]["timed"] == 0 and got[(2, T0)]["max_ms"] is None


def test_status_rounds_name_each_website_once_per_round() -> None:
    rows = [row(1, T0 + timedelta(seconds=s)) for s in (20, 0, 10)] + [row(2, T0)]
    rounds = status_rounds(rows)
    assert [[r["website_id"] for r in rnd] for rnd in rounds] == [[1, 2], [1], [1]]
    assert [rnd[0]["last_checked_at"] for rnd in rounds] == [
        T0 + timedelta(seconds=s) for s in (0, 10, 20)
    ]


async def test_record_writes_history_status_and_rollups(engine: AsyncEngine) -> None:
    ids = await add_websites(engine, "shop", "blog")
    shop, blog = ids["shop"], ids["blog"]
    batches = [
        [row(shop, T0), row(blog, T0, ok=False)],
        [row(shop, T0 + timedelta(seconds=30)), row(blog, T0 + timedelta(seconds=30), ok=False)],
        # two checks of one website in a batch still count as two
        [
            row(shop, T0 + timedelta(seconds=60), ok=False, ms=None),
            row(shop, T0 + timedelta(seconds=90), ok=False, ms=None),
        ],
    ]
    for batch in batches:
        async with engine.begin() as conn:
            await results.record(conn, batch)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(tables.history)) == 6
        status = {s.key: s for s in await status_store.current_status(conn)}
        rollup = (
            await conn.execute(select(tables.hourly).where(tables.hourly.c.website_id == shop))
        ).one()
        page = await status_store.history_page(conn, shop, limit=3)
        older = await status_store.history_page(conn, shop, limit=3, before_id=page[-1]["id"])
    assert (status["shop"].state, status["shop"].streak, status["shop"].state_since) == (
        "down",
        2,
        T0 + timedelta(seconds=60),
    )
    assert (status["blog"].state, status["blog"].streak, status["blog"].state_since) == (
        "down",
        2,
        T0,
    )
    assert status["blog"].last_error_message == "got 503, expected 2xx"
    assert (rollup.checks, rollup.failures, rollup.timed, rollup.sum_ms, rollup.max_ms) == (
        4,
        2,
        2,
        200.0,
        100.0,
    )
    assert [r["checked_at"] for r in page] == [T0 + timedelta(seconds=s) for s in (90, 60, 30)]
    assert [r["checked_at"] for r in older] == [T0]


async def test_a_batch_the_database_refuses_is_a_database_error_and_stores_nothing(
    engine: AsyncEngine,
) -> None:
    """The writes go to the driver directly on both databases: their errors must
    still be the store's ``DatabaseError`` (the writer keeps and retries the
    batch, and logs a database's refusal without a traceback)."""
    ids = await add_websites(engine, "a")
    with pytest.raises(DatabaseError, match="check_histories"):
        async with begin_write(engine) as conn:
            await results.record(conn, [row(ids["a"], T0), row(ids["a"] + 1000, T0)])
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(tables.history)) == 0


async def test_status_never_goes_back_in_time(engine: AsyncEngine) -> None:
    ids = await add_websites(engine, "shop")
    for at, ok in ((T0 + timedelta(seconds=30), True), (T0, False)):
        async with engine.begin() as conn:
            await results.record(conn, [row(ids["shop"], at, ok=ok)])
    async with engine.connect() as conn:
        (status,) = await status_store.current_status(conn)
    assert (status.state, status.last_checked_at) == ("up", T0 + timedelta(seconds=30))


async def test_sealing_fills_percentiles_and_days(engine: AsyncEngine) -> None:
    ids = await add_websites(engine, "shop")
    day = T0.replace(hour=0)
    rows = [
        row(ids["shop"], day + timedelta(minutes=3 * i), ms=float(i + 1)) for i in range(40)
    ]  # 2 hours
    rows.append(row(ids["shop"], day + timedelta(minutes=5), ok=False, ms=None))
    async with engine.begin() as conn:
        await results.record(conn, rows)
    keeper = Housekeeper(engine, clock=lambda: day + DAY + timedelta(minutes=5))
    await keeper.run_once()
    async with engine.connect() as conn:
        hours = (
            await conn.execute(
                select(tables.hourly.c.bucket, tables.hourly.c.p95_ms).order_by(
                    tables.hourly.c.bucket
                )
            )
        ).all()
        days = (await conn.execute(select(tables.daily))).all()
        assert await marks.get_mark(conn, win.HOURLY_SEALED) == day + DAY
    # hour 0 holds 1..20 ms: nearest-rank p95 is 19; hour 1 holds 21..40: 39
    assert [(h[0], h[1]) for h in hours] == [(day, 19.0), (day + HOUR, 39.0)]
    (d,) = days
    assert (d.bucket, d.checks, d.failures, d.timed, d.sum_ms, d.max_ms, d.p95_ms) == (
        day,
        41,
        1,
        40,
        820.0,
        40.0,
        38.0,
    )


async def test_an_hour_is_not_sealed_before_it_is_over(engine: AsyncEngine) -> None:
    ids = await add_websites(engine, "shop")
    async with engine.begin() as conn:
        await results.record(conn, [row(ids["shop"], T0)])
    async with engine.begin() as conn:
        assert await rollups.seal_next_hour(conn, T0 + HOUR) is None  # within the grace
        assert await rollups.seal_next_hour(conn, T0 + HOUR + timedelta(minutes=3)) == T0
        assert await rollups.seal_next_hour(conn, T0 + HOUR + timedelta(minutes=3)) is None


async def test_uptime_windows_from_sliding_totals(engine: AsyncEngine) -> None:
    ids = await add_websites(engine, "shop", "blog")
    shop = ids["shop"]
    now = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
    rows = []
    # one check an hour for 40 days; every 10th fails
    start = now - timedelta(days=40)
    for n in range(40 * 24):
        rows.append(row(shop, start + n * HOUR, ok=n % 10 != 0, ms=float(n)))
    async with engine.begin() as conn:
        await results.record(conn, rows)
    await Housekeeper(engine, Retention(history_days=365), clock=lambda: now).run_once()
    windows = [timedelta(hours=24), timedelta(days=7), timedelta(days=30)]
    async with engine.connect() as conn:
        got = await uptime_store.uptime(conn, windows, now)
    assert got[shop] == {w: brute_uptime(rows, shop, now, w) for w in windows}
    assert got[shop][timedelta(hours=24)].checks == 23  # the last check was at 11:30
    assert ids["blog"] not in got  # never checked: no figures, not 100 %
    assert Uptime(0, 0).ratio is None and Uptime(10, 1).ratio == 0.9


def brute_uptime(
    rows: list[dict[str, Any]], website_id: int, now: datetime, window: timedelta
) -> Uptime:
    """The definition: checks in the whole hours ``[hour(now) + 1h - window, hour(now) + 1h)``."""
    end = now.replace(minute=0, second=0, microsecond=0) + HOUR
    sel = [
        r for r in rows if r["website_id"] == website_id and end - window <= r["checked_at"] < end
    ]
    timed = [r["response_time_ms"] for r in sel if r["response_time_ms"] is not None]
    return Uptime(len(sel), sum(1 for r in sel if not r["ok"]), len(timed), float(sum(timed)))


async def test_sliding_totals_stay_exact_as_windows_move_and_results_come_late(
    engine: AsyncEngine,
) -> None:
    """Results trickle in (some days late) while housekeeping moves the windows
    on: at every step the fast path must equal the brute-force definition."""
    ids = await add_websites(engine, "a", "b", "c")
    start = datetime(2026, 10, 1, tzinfo=UTC)
    windows = [*win.SLIDING, timedelta(hours=6), timedelta(days=2)]
    written: list[dict[str, Any]] = []
    n = 0
    for step in range(50):  # 50 steps of 18 h: about 37 days
        now = start + step * timedelta(hours=18)
        batch = []
        for k in range(12):
            n += 1
            at = now - timedelta(hours=18) + k * timedelta(minutes=90)
            site = (ids["a"], ids["b"], ids["c"])[n % 3]
            batch.append(row(site, at, ok=n % 7 != 0, ms=None if n % 11 == 0 else float(n)))
        if step % 5 == 4:  # a result that comes in three days late
            batch.append(row(ids["b"], now - timedelta(days=3), ok=False, ms=5.0))
        async with engine.begin() as conn:
            await results.record(conn, batch)
        written += batch
        keeper = Housekeeper(engine, Retention(history_days=365), clock=lambda at=now: at)
        await keeper.run_once()
        async with engine.connect() as conn:
            assert await marks.get_mark(conn, win.TOTALS_FROM) == win.floor_hour(now) + HOUR
            # now: the totals are current; an hour later: before housekeeping has
            # moved them on, the hour that left each window is taken off on reading.
            for at in (now, now + HOUR, now + 5 * HOUR):
                got = await uptime_store.uptime(conn, windows, at)
                for site in ids.values():
                    for w in windows:
                        want = brute_uptime(written, site, at, w)
                        have = got.get(site, {}).get(w, Uptime(0, 0))
                        assert (have.checks, have.failures, have.timed) == (
                            want.checks,
                            want.failures,
                            want.timed,
                        ), (step, at, site, w)
                        assert have.sum_ms == pytest.approx(want.sum_ms)
                # The header's 24 h figure, summed in the database, agrees too;
                # so does the uptime of one page of websites.
                day = timedelta(hours=24)
                summed = await summary_store.summary(conn, at)
                want_all = [brute_uptime(written, site, at, day) for site in ids.values()]
                assert summed.checks_24h == sum(u.checks for u in want_all)
                assert summed.failures_24h == sum(u.failures for u in want_all)
                page = await uptime_store.uptime(conn, windows, at, ids=[ids["b"]])
                assert set(page) <= {ids["b"]}
                assert page.get(ids["b"]) == got.get(ids["b"])


def test_window_totals_count_each_hour_in_the_windows_that_hold_it() -> None:
    end = datetime(2026, 11, 28, 12, tzinfo=UTC)
    inc = {"website_id": 1, "checks": 2, "failures": 1, "timed": 2, "sum_ms": 30.0}
    got = results.window_totals(
        [
            {**inc, "bucket": end},  # the current hour: in all three
            {**inc, "bucket": end - HOUR},  # in all three
            {**inc, "bucket": end - 3 * DAY},  # in 7d and 30d
            {**inc, "bucket": end - 40 * DAY},  # in none
        ],
        end,
    )
    assert len(got) == 1
    assert (got[0]["checks_24h"], got[0]["checks_7d"], got[0]["checks_30d"]) == (4, 6, 6)
    assert got[0]["failures_24h"] == 2 and got[0]["sum_ms_30d"] == 90.0
    assert results.window_totals([{**inc, "bucket": end - 40 * DAY}], end) == []


async def test_retention_purges_in_batches(engine: AsyncEngine) -> None:
    ids = await add_websites(engine, "shop")
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    rows = [row(ids["shop"], now - timedelta(days=40) + timedelta(minutes=n)) for n in range(25)]
    rows += [row(ids["shop"], now - timedelta(days=1))]
    async with engine.begin() as conn:
        await results.record(conn, rows)
    keeper = Housekeeper(
        engine, Retention(history_days=30, rollup_days=35, batch=10, pause=0), clock=lambda: now
    )
    await keeper.run_once()
    async with engine.connect() as conn:
        left = (await conn.execute(select(tables.history.c.checked_at))).scalars().all()
        buckets = (await conn.execute(select(tables.hourly.c.bucket))).scalars().all()
    assert left == [now - timedelta(days=1)]
    assert all(b >= now - timedelta(days=35) for b in buckets) and buckets


async def test_summary_counts(engine: AsyncEngine) -> None:
    ids = await add_websites(engine, "a", "b", "c")
    now = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
    async with engine.begin() as conn:
        await results.record(
            conn, [row(ids["a"], now, ms=100), row(ids["b"], now, ok=False, ms=300)]
        )
    async with engine.connect() as conn:
        s = await summary_store.summary(conn, now)
    assert (s.websites, s.active, s.up, s.down, s.unknown) == (3, 3, 1, 1, 1)
    assert (s.checks_24h, s.failures_24h, s.mean_response_ms_24h, s.uptime_24h) == (
        2,
        1,
        200.0,
        0.5,
    )


async def test_summary_leaves_out_archived_websites(engine: AsyncEngine) -> None:
    """A deleted website's checks no longer count in the header's 24 h uptime,
    whether it is read from the rollup or from the sliding totals."""
    ids = await add_websites(engine, "a", "gone")
    now = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
    async with engine.begin() as conn:
        await results.record(
            conn,
            [row(ids["a"], now, ms=100.0)] + [row(ids["gone"], now, ok=False) for _ in range(3)],
        )
        await conn.execute(
            tables.websites.update()
            .where(tables.websites.c.id == ids["gone"])
            .values(archived_at=now)
        )
    async with engine.connect() as conn:
        before = await summary_store.summary(conn, now)  # no totals yet: read from the rollup
    await Housekeeper(engine, Retention(history_days=365), clock=lambda: now).run_once()
    async with engine.connect() as conn:
        assert await marks.get_mark(conn, win.TOTALS_FROM) is not None
        after = await summary_store.summary(conn, now)  # from the sliding totals
    for s in (before, after):
        assert (s.websites, s.active) == (1, 1)
        assert (s.checks_24h, s.failures_24h, s.uptime_24h) == (1, 0, 1.0)


@pytest.mark.parametrize("granularity", ["hour", "day"])
async def test_series_for_charts(engine: AsyncEngine, granularity: str) -> None:
    ids = await add_websites(engine, "shop")
    async with engine.begin() as conn:
        await results.record(
            conn,
            [row(ids["shop"], T0, ms=100), row(ids["shop"], T0 + timedelta(minutes=1), ms=300)],
        )
    await Housekeeper(
        engine, Retention(history_days=3650, rollup_days=3650), clock=lambda: T0 + 2 * DAY
    ).run_once()
    async with engine.connect() as conn:
        (b,) = await series.rollup_buckets(
            conn, ids["shop"], start=T0 - DAY, end=T0 + DAY, granularity=granularity
        )
    assert (b.checks, b.failures, b.mean_ms, b.max_ms, b.p95_ms) == (2, 0, 200.0, 300.0, 300.0)


async def test_a_young_websites_sparkline_draws_its_raw_checks(engine: AsyncEngine) -> None:
    """Less than an hour of rollups is one point, which draws no line: the raw
    checks stand in until there are two hourly points."""
    from sitewatch.store import series

    ids = await add_websites(engine, "young", "old")
    now = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
    async with engine.begin() as conn:
        await results.record(
            conn,
            [row(ids["young"], now - timedelta(minutes=m), ms=10.0 + m) for m in range(5)]
            + [row(ids["old"], now - timedelta(hours=h), ms=50.0) for h in range(4)],
        )
    await Housekeeper(engine, Retention(history_days=365), clock=lambda: now).run_once()
    async with engine.connect() as conn:
        lines = await series.sparklines(conn, list(ids.values()), now - timedelta(hours=24))
        recent = await series.recent_checks(conn, [ids["young"]], 3)
    assert len(lines[ids["young"]]) == 5  # the raw checks, oldest first
    assert [y for _, y in lines[ids["young"]]] == [14.0, 13.0, 12.0, 11.0, 10.0]
    assert len(lines[ids["old"]]) == 4  # hourly points from the rollup
    assert [c["response_time_ms"] for c in recent[ids["young"]]] == [12.0, 11.0, 10.0]


async def test_day_counts_are_the_same_before_and_after_sealing(engine: AsyncEngine) -> None:
    """A status page's bars: days from the hourly rollup until sealed, then from the
    daily one (sums, the days with checks, the days with failures); the numbers
    never change on the way, and a gap (a day without checks) stays a gap."""
    ids = await add_websites(engine, "shop", "blog", "gappy")
    shop, gappy = ids["shop"], ids["gappy"]
    now = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
    start = now - timedelta(days=5)
    rows = [row(shop, start + n * HOUR, ok=n % 7 != 0) for n in range(5 * 24 + 12)]
    rows += [row(gappy, start + n * HOUR) for n in range(5 * 24) if not 30 <= n < 60]
    async with engine.begin() as conn:
        await results.record(conn, rows)
    first = datetime(2026, 11, 20, tzinfo=UTC)
    expected: dict[int, dict[int, tuple[int, int]]] = {}
    for r in rows:
        day = uptime_store.day_number(r["checked_at"])
        per = expected.setdefault(r["website_id"], {})
        checks, failures = per.get(day, (0, 0))
        per[day] = (checks + 1, failures + (not r["ok"]))
    async with engine.connect() as conn:
        assert await uptime_store.sealed_through(conn, now) is None
        before = await uptime_store.open_days(conn, list(ids.values()), since=first)
    assert before == expected  # blog: never checked, no days
    await Housekeeper(engine, Retention(history_days=365), clock=lambda: now).run_once()
    today = uptime_store.day_number(now)
    async with engine.connect() as conn:
        sealed = await uptime_store.sealed_through(conn, now)
        assert sealed == datetime(2026, 11, 28, tzinfo=UTC)
        past = await uptime_store.sealed_days(conn, list(ids.values()), since=first, until=sealed)
        recent = await uptime_store.open_days(conn, [shop, gappy], since=sealed)
    assert set(past) == {shop, gappy}
    for website in (shop, gappy):
        days = past[website]
        want = {d: c for d, c in expected[website].items() if d < today}
        assert (days.checks, days.failures) == (
            sum(c for c, _ in want.values()),
            sum(f for _, f in want.values()),
        )
        assert set(days.days) == set(want)
        assert days.failed == {d: c for d, c in want.items() if c[1]}
        for d, (c, f) in want.items():
            assert days.ratio(d) == (c - f) / c
    assert past[gappy].ratio(today - 3) is None and isinstance(past[gappy].days, frozenset)
    assert isinstance(past[shop].days, range)
    assert list(recent[shop]) == [today]  # only today is still hourly
