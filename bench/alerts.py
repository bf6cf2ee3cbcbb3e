"""Security alert ingest through the real bus on SQLite: de-duplication, ticket creation and outbox rows, alerts that
arrive together written together (``handlers.alert_batching``, ``handlers.alert_ingest``), then an alert storm whose
notifications are drained to a loopback webhook sink.

1. **Ingest:** ``--alerts`` alerts from the demo customers (one in ten a repeat of an earlier one), ``--concurrency``
   requests at a time (and again with ``--wide`` at a time, as a SOC platform's webhook storm opens them),
   severities 5 % critical, 20 % high, 35 % medium, 25 % low, 15 % informational (a critical alert's ticket escalates
   at once: a second command); target >= 1,000 alerts/s.
2. **Storm:** ``--storm`` alerts of which 90 % are copies (``--storm 10000``: 1,000 distinct alerts, each sent
   ten times, shuffled), then ``Dispatcher.drain()`` to ``bench/sink.py``: exactly ``storm / 10`` tickets, and
   every outbox row's ``Idempotency-Key`` arrives at the sink exactly once.

    .venv/bin/python -m bench.alerts [--alerts 3000] [--storm 10000] [--concurrency 16] [--wide 64] [--repeat 3]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Directory, count_rows, prepare_database, run_floor, sqlite_url, webhook_rule, write_json
from bench.outbox_drain import SinkProcess, drain, exactly_once, pending_rows, status_counts
from psa_chatops.bot.bootstrap import build_bus, system_context
from psa_chatops.core import commands as c
from psa_chatops.core.alerts import AlertSeverity, AlertSignal
from psa_chatops.handlers.alert_batching import AlertBatcher
from psa_chatops.handlers.alert_views import AlertIngestView
from psa_chatops.handlers.messagebus import MessageBus
from psa_chatops.storage import tables as t
from psa_chatops.storage.unit_of_work import SystemClock

TARGET_SQLITE = 1000.0  # alerts/s, from the issue
COPIES = 10  # the storm: each distinct alert arrives this often
SEVERITIES = list(AlertSeverity)
SEVERITY_WEIGHTS = (5, 20, 35, 25, 15)  # critical .. informational: a critical alert's ticket also escalates
THREATS = ("ransomware", "trojan", "phishing", "credential_access", "lateral_movement", "cryptominer")


def signals(
    directory: Directory, count: int, *, prefix: str, repeat_every: int, rng: random.Random
) -> list[AlertSignal]:
    """``count`` alerts; every ``repeat_every``-th is a copy of an earlier one. Each distinct alert has its own host,
    so correlation (same asset and threat within the window) does not merge them."""
    out: list[AlertSignal] = []
    for i in range(count):
        if repeat_every and i % repeat_every == repeat_every - 1 and out:
            out.append(rng.choice(out))
            continue
        customer = directory.customers[i % len(directory.customers)]
        out.append(
            AlertSignal(
                provider="rocketcyber",
                alert_id=f"{prefix}-{i:06d}",
                severity=rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0],
                threat_type=THREATS[i % len(THREATS)],
                title="",
                affected_asset=f"ws-{prefix.lower()}-{i:06d}",
                customer_ref=customer.id,
            )
        )
    return out


async def ingest_all(bus: MessageBus, alerts: list[AlertSignal], concurrency: int) -> tuple[float, list[str]]:
    queue = list(reversed(alerts))
    outcomes: list[str] = []
    context = system_context("bench-alerts")

    async def worker() -> None:
        while queue:
            result: AlertIngestView = await bus.handle(c.IngestAlert(signal=queue.pop()), context)
            outcomes.append(result.outcome)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, outcomes


def tally(outcomes: list[str]) -> dict[str, int]:
    return {name: outcomes.count(name) for name in sorted(set(outcomes))}


async def ingest_run(url: str, sink: SinkProcess, args: argparse.Namespace, concurrency: int) -> dict[str, Any]:
    engine, directory = await prepare_database(url, rules=[webhook_rule(f"{sink.base}/alerts")])
    try:
        bus = build_bus(engine, SystemClock())
        batcher = bus.orchestrators[c.IngestAlert]
        assert isinstance(batcher, AlertBatcher)
        warmup = signals(directory, 50, prefix="W", repeat_every=0, rng=random.Random(1))
        await ingest_all(bus, warmup, concurrency)
        tickets0, outbox0 = await count_rows(engine, t.TicketRow), await count_rows(engine, t.OutboxRow)
        batches0, batched0 = batcher.batches, batcher.alerts
        alerts = signals(directory, args.alerts, prefix="I", repeat_every=10, rng=random.Random(2))
        seconds, outcomes = await ingest_all(bus, alerts, concurrency)
        tickets = await count_rows(engine, t.TicketRow) - tickets0
        outbox = await count_rows(engine, t.OutboxRow) - outbox0
        mean_batch = (batcher.alerts - batched0) / max(1, batcher.batches - batches0)
    finally:
        await engine.dispose()
    rate = len(alerts) / seconds
    print(
        f"ingest {rate:.1f} alerts/s ({len(alerts)} in {seconds:.2f} s, {concurrency} at a time, mean batch"
        f" {mean_batch:.1f}) {tally(outcomes)}",
        flush=True,
    )
    return {
        "alerts": len(alerts),
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "per_second": round(rate, 1),
        "mean_batch": round(mean_batch, 1),
        "outcomes": tally(outcomes),
        "tickets": tickets,
        "outbox_rows": outbox,
        "meets_target": rate >= TARGET_SQLITE,
    }


async def repeated(
    tmp: Path, name: str, sink: SinkProcess, args: argparse.Namespace, concurrency: int
) -> dict[str, Any]:
    """``--repeat`` ingest runs on fresh databases; the median run stands for them (this VM's pace swings by a
    factor of two within minutes), and every run's rate is kept."""
    runs = [await ingest_run(sqlite_url(tmp, f"{name}-{i}.db"), sink, args, concurrency) for i in range(args.repeat)]
    median = sorted(runs, key=lambda r: float(r["per_second"]))[len(runs) // 2]
    return {**median, "runs_per_second": [r["per_second"] for r in runs]}


async def floor_run(url: str) -> float:
    """This machine's pace right now: single-row INSERT + COMMIT transactions on a scratch table (as in
    ``bench.commands``), so a slow VM shows as a low floor rather than as slow code."""
    engine, _ = await prepare_database(url, rules=[])
    try:
        timing = await run_floor(engine, total=1000, concurrency=1, deadline=time.monotonic() + 60)
    finally:
        await engine.dispose()
    rate = timing.count / timing.seconds
    print(f"floor {rate:.1f} tx/s", flush=True)
    return round(rate, 1)


async def storm_run(url: str, sink: SinkProcess, args: argparse.Namespace) -> dict[str, Any]:
    engine, directory = await prepare_database(url, rules=[webhook_rule(f"{sink.base}/storm")])
    distinct = max(1, args.storm // COPIES)
    rng = random.Random(3)
    originals = signals(directory, distinct, prefix="S", repeat_every=0, rng=rng)
    storm = [a for a in originals for _ in range(COPIES)][: args.storm]
    rng.shuffle(storm)
    try:
        bus = build_bus(engine, SystemClock())
        seconds, outcomes = await ingest_all(bus, storm, args.concurrency)
        tickets = await count_rows(engine, t.TicketRow)
        expected = {r.idempotency_key for r in await pending_rows(engine)}
        async with aiohttp.ClientSession() as session:
            await sink.reset(session)
            drain_seconds, attempts, _ = await drain(engine, url, session, sandbox=False)
            check = exactly_once(await sink.stats(session), expected)
        statuses = await status_counts(engine)
    finally:
        await engine.dispose()
    result = {
        "alerts": len(storm),
        "distinct": distinct,
        "copies": len(storm) - distinct,
        "seconds": round(seconds, 3),
        "per_second": round(len(storm) / seconds, 1),
        "outcomes": tally(outcomes),
        "tickets": tickets,
        "exactly_the_distinct_tickets": tickets == distinct,
        "outbox_rows": len(expected),
        "drain_seconds": round(drain_seconds, 3),
        "drain_attempts": attempts,
        "statuses": statuses,
        **check,
    }
    print(
        f"storm {result['per_second']:.1f} alerts/s, {tickets} tickets for {distinct} distinct alerts, "
        f"{len(expected)} notifications, exactly once: {check['exactly_once']}",
        flush=True,
    )
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"target_sqlite_per_second": TARGET_SQLITE, "version": sqlite3.sqlite_version}
    async with SinkProcess() as sink:
        with tempfile.TemporaryDirectory(prefix="psa-bench-") as tmp:
            floor_before = await floor_run(sqlite_url(Path(tmp), "floor-before.db"))
            result["ingest"] = await repeated(Path(tmp), "alerts", sink, args, args.concurrency)
            result["wide"] = await repeated(Path(tmp), "wide", sink, args, args.wide)
            floor_after = await floor_run(sqlite_url(Path(tmp), "floor-after.db"))
            result["floor_tx_per_second"] = round((floor_before + floor_after) / 2, 1)
            result["floors"] = [floor_before, floor_after]
            result["storm"] = await storm_run(sqlite_url(Path(tmp), "storm.db"), sink, args)
    return result


def section(data: dict[str, Any]) -> str:
    """The BENCHMARKS.md section for a result of ``main``."""
    ingest, storm = data["ingest"], data["storm"]
    lines = [
        "## Security alert ingest — `bench/alerts.py`",
        "",
        f"SQLite {data['version']}, the real bus (writer thread), one webhook routing rule for every category."
        " Every request goes through `bus.handle(IngestAlert)`; requests that arrive while a batch is being written"
        " wait for the next one (`handlers.alert_batching`), which runs `ingest_alert_batch` in one transaction:"
        " de-duplication on `(provider, alert_id)`, customer and asset resolution, correlation lookup, ticket"
        " events, outbox rows and each request's own result. Concurrency caps the batch size.",
        "",
        "| run | alerts | alerts/s | mean batch | outcomes | tickets | outbox rows | check | ÷ floor |",
        "|---|---|---|---|---|---|---|---|---|",
        *(_ingest_row(data, run) for run in (ingest, data["wide"])),
        f"| storm ({storm['copies']:,} copies of {storm['distinct']:,} alerts, shuffled) | {storm['alerts']:,}"
        f" | **{storm['per_second']:,.1f}** | | {_outcomes(storm['outcomes'])} | {storm['tickets']:,}"
        f" | {storm['outbox_rows']:,} | {storm['received_unique']:,} of {storm['expected']:,} delivered,"
        f" {storm['duplicates']} dup, {storm['missing']} missing | |",
        "",
        f"Each ingest row is the median of {len(ingest['runs_per_second'])} runs on fresh databases (all runs:"
        f" {', '.join(f'{r:,.1f}' for r in ingest['runs_per_second'])} and"
        f" {', '.join(f'{r:,.1f}' for r in data['wide']['runs_per_second'])} alerts/s).",
        "",
        f"**Baseline** (same run): single-row `INSERT` + `COMMIT` transactions on a scratch table through the same"
        f" engine, before and after the ingest runs: {' and '.join(f'{f:,.1f}' for f in data['floors'])} tx/s, mean"
        f" **{data['floor_tx_per_second']:,.1f} tx/s**; the ingest rows divide by the mean in the last column.",
        "",
        f"Storm: exactly {storm['distinct']:,} tickets: **{storm['exactly_the_distinct_tickets']}**; every notification"
        f" delivered exactly once: **{storm['exactly_once']}** (drained in {storm['drain_seconds']} s).",
        "",
    ]
    return "\n".join(lines)


def _ingest_row(data: dict[str, Any], run: dict[str, Any]) -> str:
    return (
        f"| ingest (1 in 10 a repeat, {run['concurrency']} at a time) | {run['alerts']:,}"
        f" | **{run['per_second']:,.1f}** | {run['mean_batch']} | {_outcomes(run['outcomes'])} | {run['tickets']:,}"
        f" | {run['outbox_rows']:,} | target {data['target_sqlite_per_second']:,.0f}/s:"
        f" {'met' if run['meets_target'] else 'missed'} | {run['per_second'] / data['floor_tx_per_second']:.2f} |"
    )


def _outcomes(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in outcomes.items())


async def run(
    *, alerts: int = 3000, storm: int = 10_000, concurrency: int = 16, wide: int = 64, repeat: int = 3
) -> str:
    """Run every part and return the markdown section (for ``bench/run_all.py``)."""
    args = argparse.Namespace(alerts=alerts, storm=storm, concurrency=concurrency, wide=wide, repeat=repeat)
    return section(await main(args))


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--storm", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--wide", type=int, default=64, help="the second ingest run's concurrency")
    parser.add_argument("--repeat", type=int, default=3, help="ingest runs per concurrency (the median is reported)")
    parser.add_argument("--json", help="write the result here instead of stdout")
    parser.add_argument("--markdown", action="store_true", help="print the BENCHMARKS.md section as well")
    args = parser.parse_args(argv)
    result = asyncio.run(main(args))
    write_json(args.json, result)
    if args.markdown:
        print(section(result))


if __name__ == "__main__":
    cli()
