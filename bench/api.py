"""REST API throughput through the whole gateway (API-key auth, rate limiting, JSON request logs, problem
handling, the response cache on and off) against a bare aiohttp JSON handler in the same run, and ticket creation.

    .venv/bin/python -m bench.api [--requests 4000] [--creates 2000] [--concurrency 16] [--json out.json]

Server and load generator run in separate processes (``bench.api_server``); the load generator is an aiohttp
client with ``--concurrency`` connections. Latency is per request, measured by the client.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, TCPConnector

from bench.common import ServerProcess, write_json

TARGET_RATIO = 0.25  # of the bare handler's throughput, from the issue
TARGET_CREATES = 500.0  # tickets/s on SQLite, from the issue


class Server(ServerProcess):
    def __init__(self, *argv: str) -> None:
        super().__init__("bench.api_server", *argv)

    async def __aenter__(self) -> tuple[int, str, int, int]:  # type: ignore[override]
        f = await super().__aenter__()
        return int(f[0]), f[1], int(f[2]), int(f[3])


def summary(latencies: list[float], seconds: float, errors: int) -> dict[str, Any]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else 0.0

    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(seconds, 3),
        "per_second": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0,
    }


async def load(port: int, paths: list[str], *, headers: dict[str, str], concurrency: int, method: str = "GET",
               bodies: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    latencies: list[float] = []
    errors = 0
    queue = list(range(len(paths)))
    connector = TCPConnector(limit=concurrency)
    async with ClientSession(f"http://127.0.0.1:{port}", connector=connector, headers=headers) as http:

        async def worker() -> None:
            nonlocal errors
            while queue:
                i = queue.pop()
                started = time.perf_counter()
                kwargs = {"json": bodies[i]} if bodies else {}
                async with http.request(method, paths[i], **kwargs) as response:
                    await response.read()
                    ok = response.status < 300
                latencies.append(time.perf_counter() - started)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return summary(latencies, seconds, errors)


async def get_run(mode: str, workdir: Path, args: argparse.Namespace, sample: Path) -> dict[str, Any]:
    if mode == "bare":
        argv = ["--mode", "bare", "--sample", str(sample)]
    else:
        argv = ["--mode", "ours", "--db", str(workdir / f"{mode}.db"), "--tickets", str(args.tickets)]
    if mode == "ours-no-cache":
        argv.append("--no-cache")
    async with Server(*argv) as (port, key, first, last):
        rng = random.Random(11)
        paths = [f"/api/v1/tickets/{rng.randint(first, last)}" for _ in range(args.requests)]
        headers = {"Authorization": f"Bearer {key}"} if key != "-" else {}
        await load(port, paths[: args.requests // 10], headers=headers, concurrency=args.concurrency)  # warm-up
        return await load(port, paths, headers=headers, concurrency=args.concurrency)


async def create_run(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    async with Server("--mode", "ours", "--db", str(workdir / "creates.db"), "--tickets", "1") as (port, key, _, _):
        bodies = [
            {"title": f"Created {i}", "customer_id": "CUST-789", "priority": "medium", "description": "y" * 200}
            for i in range(args.creates)
        ]
        headers = {"Authorization": f"Bearer {key}"}
        return await load(
            port, ["/api/v1/tickets"] * args.creates, headers=headers, concurrency=args.concurrency, method="POST",
            bodies=bodies,
        )  # fmt: skip


async def sample_body(workdir: Path, args: argparse.Namespace) -> Path:
    """One real ticket response of ours, so the bare handler sends the same number of bytes."""
    server = Server("--mode", "ours", "--db", str(workdir / "sample.db"), "--tickets", "1")
    async with server as (port, key, first, _), ClientSession() as http:
        url = f"http://127.0.0.1:{port}/api/v1/tickets/{first}"
        async with http.get(url, headers={"Authorization": f"Bearer {key}"}) as response:
            body = await response.read()
    path = workdir / "sample.json"
    path.write_bytes(body)
    return path


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="psa-bench-api-") as tmp:
        workdir = Path(tmp)
        sample = await sample_body(workdir, args)
        runs = {mode: await get_run(mode, workdir, args, sample) for mode in ("bare", "ours", "ours-no-cache")}
        creates = await create_run(workdir, args)
    bare_rate = runs["bare"]["per_second"]
    return {
        "concurrency": args.concurrency,
        "body_bytes": sample.stat().st_size if sample.exists() else None,
        "get": runs,
        "ratio": {m: round(r["per_second"] / bare_rate, 3) if bare_rate else None for m, r in runs.items()},
        "target_ratio": TARGET_RATIO,
        "create": creates,
        "target_creates_per_second": TARGET_CREATES,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000, help="GET requests per run")
    parser.add_argument("--creates", type=int, default=2000, help="POST /tickets requests")
    parser.add_argument("--tickets", type=int, default=200, help="tickets the GET runs pick from")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", help="write the result here instead of stdout")
    return parser.parse_args(argv)


if __name__ == "__main__":
    parsed = parse_args()
    result = asyncio.run(main(parsed))
    for name, run in [*(("GET " + m, r) for m, r in result["get"].items()), ("POST /tickets", result["create"])]:
        rate, p50, p99 = run["per_second"], run["p50_ms"], run["p99_ms"]
        print(f"{name:<18} {rate:>8.1f}/s p50 {p50} ms p99 {p99} ms errors {run['errors']}", flush=True)
    write_json(parsed.json, result)
