"""Signed ``/psa ticket N`` slash commands through the real service against a bare slack-bolt app that only
acknowledges, in the same run: throughput at a fixed concurrency, and latency at a steady 100 requests/s.

    .venv/bin/python -m bench.slack [--requests 3000] [--concurrency 16] [--rate 100] [--seconds 10] [--json out]

Every request carries a fresh Slack v0 signature (``X-Slack-Signature``, ``X-Slack-Request-Timestamp``), which
both servers verify. Server and load generator run in separate processes.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import random
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientSession, TCPConnector

from bench.api import summary
from bench.common import ServerProcess, write_json

TARGET_RATIO = 0.8  # of the bare Bolt app's throughput, from the issue
TARGET_P99_MS = 100.0  # at 100 requests/s, from the issue


class Server(ServerProcess):
    def __init__(self, *argv: str) -> None:
        super().__init__("bench.slack_server", *argv)

    async def __aenter__(self) -> tuple[int, int, int]:  # type: ignore[override]
        f = await super().__aenter__()
        return int(f[0]), int(f[1]), int(f[2])


def signed(secret: str, body: bytes) -> dict[str, str]:
    """Slack's v0 scheme: HMAC-SHA256 over ``v0:<timestamp>:<body>``."""
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:%s:%s" % (timestamp.encode(), body), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Signature": f"v0={digest}",
        "X-Slack-Request-Timestamp": timestamp,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command(number: int, user: str) -> bytes:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T0BENCH",
            "team_domain": "bench",
            "channel_id": "C0BENCH",
            "channel_name": "support",
            "user_id": user,
            "user_name": "bench",
            "command": "/psa",
            "text": f"ticket {number}",
            "api_app_id": "A0BENCH",
            "response_url": "https://hooks.slack.com/commands/T0BENCH/1/x",
            "trigger_id": f"{random.randint(1, 10**9)}.1.{secrets.token_hex(8)}",
        }
    ).encode()


async def closed_loop(port: int, bodies: list[bytes], secret: str, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    queue = list(range(len(bodies)))
    async with ClientSession(f"http://127.0.0.1:{port}", connector=TCPConnector(limit=concurrency)) as http:

        async def worker() -> None:
            nonlocal errors
            while queue:
                body = bodies[queue.pop()]
                started = time.perf_counter()
                async with http.post("/slack/events", data=body, headers=signed(secret, body)) as response:
                    await response.read()
                    errors += response.status != 200
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return summary(latencies, seconds, errors)


async def steady(port: int, bodies: list[bytes], secret: str, rate: float) -> dict[str, Any]:
    """Open loop: request i leaves at start + i / rate whatever the answers do, as Slack's users would."""
    latencies: list[float] = []
    errors = 0
    async with ClientSession(f"http://127.0.0.1:{port}", connector=TCPConnector(limit=256)) as http:

        async def one(i: int, at: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            body = bodies[i]
            sent = time.perf_counter()
            async with http.post("/slack/events", data=body, headers=signed(secret, body)) as response:
                await response.read()
                errors += response.status != 200
            latencies.append(time.perf_counter() - sent)

        start = time.perf_counter() + 0.2
        began = time.perf_counter()
        await asyncio.gather(*(one(i, start + i / rate) for i in range(len(bodies))))
        seconds = time.perf_counter() - began
    return summary(latencies, seconds, errors)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    secret = secrets.token_hex(16)
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="psa-bench-slack-") as tmp:
        bodies = [command(1, "U0BENCH") for _ in range(args.requests)]
        async with Server("--mode", "bare", "--secret", secret) as (port, _, _):
            await closed_loop(port, bodies[: args.requests // 10], secret, args.concurrency)
            bare = await closed_loop(port, bodies, secret, args.concurrency)
        async with Server("--mode", "bare-inline", "--secret", secret) as (port, _, _):
            await closed_loop(port, bodies[: args.requests // 10], secret, args.concurrency)
            inline = await closed_loop(port, bodies, secret, args.concurrency)
        db = str(Path(tmp) / "slack.db")
        async with Server("--mode", "ours", "--db", db, "--secret", secret) as (port, first, last):
            bodies = [command(rng.randint(first, last), "U0BENCH") for _ in range(args.requests)]
            await closed_loop(port, bodies[: args.requests // 10], secret, args.concurrency)  # links the user
            ours = await closed_loop(port, bodies, secret, args.concurrency)
            paced = [command(rng.randint(first, last), "U0BENCH") for _ in range(int(args.rate * args.seconds))]
            at_rate = await steady(port, paced, secret, args.rate)
    return {
        "concurrency": args.concurrency,
        "bare": bare,
        "bare_inline": inline,
        "ours": ours,
        "ratio": round(ours["per_second"] / bare["per_second"], 3) if bare["per_second"] else None,
        "ratio_inline": round(ours["per_second"] / inline["per_second"], 3) if inline["per_second"] else None,
        "target_ratio": TARGET_RATIO,
        "steady": {"rate": args.rate, "seconds": args.seconds, **at_rate},
        "target_p99_ms": TARGET_P99_MS,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second in the steady run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the steady run")
    parser.add_argument("--json", help="write the result here instead of stdout")
    return parser.parse_args(argv)


if __name__ == "__main__":
    parsed = parse_args()
    result = asyncio.run(main(parsed))
    for name in ("bare", "bare_inline", "ours"):
        run = result[name]
        rate, p50, p99 = run["per_second"], run["p50_ms"], run["p99_ms"]
        print(f"{name:<11} {rate:>8.1f}/s p50 {p50} ms p99 {p99} ms errors {run['errors']}")
    s = result["steady"]
    print(f"steady {s['rate']}/s: p50 {s['p50_ms']} ms p99 {s['p99_ms']} ms errors {s['errors']}")
    print(f"ratio {result['ratio']} of bare Bolt (defaults), {result['ratio_inline']} of the inline-ack app")
    write_json(parsed.json, result)
