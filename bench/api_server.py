"""The server side of ``bench.api``, in its own process so the load generator does not share its event loop.

    python -m bench.api_server --mode ours|bare --db PATH [--no-cache] [--tickets 200]

``ours``: the real service (``create_app``, sandbox, JSON request logs to a file, rate limits and auth on) on a
fresh SQLite database with the demo directory, one admin key and ``--tickets`` tickets opened through the API.
``bare``: a plain aiohttp app whose one handler returns a fixed ticket-sized JSON document (the baseline).
Prints ``READY <port> <key> <first> <last>`` and exits when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys
from pathlib import Path

from aiohttp import ClientSession, web

from psa_chatops.bot import keys
from psa_chatops.bot.api import keys as api_keys
from psa_chatops.bot.app import create_app
from psa_chatops.bot.demo import seed_directory
from psa_chatops.bot.logs import configure_logging
from psa_chatops.bot.settings import Settings

GENEROUS = {"api_rate_per_key": 1e6, "api_burst_per_key": 10**7, "api_rate_per_ip": 1e6, "api_burst_per_ip": 10**7}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_to(path: Path) -> None:
    """The service's own logging set-up (JSON lines, written by a background thread), into a file."""
    configure_logging("INFO", "json", path=str(path))


async def ours(args: argparse.Namespace, port: int) -> tuple[web.AppRunner, str, int, int]:
    log_to(Path(args.db).with_suffix(".log"))
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{args.db}",
        sandbox=True,
        public_url=f"http://127.0.0.1:{port}",
        api_cache=not args.no_cache,
        **GENEROUS,
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await seed_directory(app[keys.ENGINE], app[keys.CLOCK].now(), random.Random(7))
    created = await app[api_keys.API_KEYS].create(
        name="bench", scopes=["admin"], created_by="bench", now=app[keys.CLOCK].now()
    )
    numbers = await _open_tickets(port, created.secret, args.tickets)
    return runner, created.secret, min(numbers), max(numbers)


async def _open_tickets(port: int, key: str, count: int) -> list[int]:
    headers = {"Authorization": f"Bearer {key}"}
    numbers = []
    async with ClientSession(f"http://127.0.0.1:{port}") as http:
        for i in range(count):
            body = {"title": f"Bench ticket {i}", "customer_id": "CUST-789", "description": "x" * 200}
            async with http.post("/api/v1/tickets", json=body, headers=headers) as response:
                response.raise_for_status()
                numbers.append(int((await response.json())["number"]))
    return numbers


async def bare(port: int, sample: bytes) -> web.AppRunner:
    async def ticket(_request: web.Request) -> web.Response:
        return web.Response(body=sample, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/tickets/{number}", ticket)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    if args.mode == "bare":
        sample = await asyncio.to_thread(Path(args.sample).read_bytes)
        runner, key, first, last = await bare(port, sample), "-", 1, 1
    else:
        runner, key, first, last = await ours(args, port)
    print(f"READY {port} {key} {first} {last}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("ours", "bare"), required=True)
    parser.add_argument("--db", help="SQLite file to create (ours mode)")
    parser.add_argument("--sample", help="the JSON body the bare handler returns (bare mode)")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--tickets", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
