"""The server side of ``bench.teams``, in its own process.

    python -m bench.teams_server --db PATH [--tickets 100]

The real service (``create_app``, sandbox without an app id, so activities are accepted anonymously as from the
Bot Framework Emulator; JSON request logs to a file) on a fresh SQLite database with the demo directory, and a
minimal Bot Connector stand-in in the same process that answers replies and counts them. Prints
``READY <port> <connector url> <first ticket> <last ticket>``; exits when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from bench.slack_server import free_port
from psa_chatops.bot import keys
from psa_chatops.bot.app import create_app
from psa_chatops.bot.bootstrap import build_bus, system_context
from psa_chatops.bot.demo import seed_directory
from psa_chatops.bot.logs import configure_logging
from psa_chatops.bot.settings import Settings
from psa_chatops.core import commands as c

REPLIES = web.AppKey("replies", list)


async def connector(port: int) -> web.AppRunner:
    ids = itertools.count(1)

    async def activities(request: web.Request) -> web.Response:
        await request.read()
        request.app[REPLIES].append(1)
        return web.json_response({"id": f"1:{next(ids)}"})

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"replies": len(request.app[REPLIES])})

    app = web.Application()
    app[REPLIES] = []
    app.router.add_route("*", "/v3/conversations/{conversation}/activities", activities)
    app.router.add_route("*", "/v3/conversations/{conversation}/activities/{activity}", activities)
    app.router.add_get("/_count", count)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def main(args: argparse.Namespace) -> None:
    configure_logging("INFO", "json", path=str(Path(args.db).with_suffix(".log")))
    port, connector_port = free_port(), free_port()
    fake = await connector(connector_port)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{args.db}", sandbox=True, public_url=f"http://127.0.0.1:{port}"
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    engine = app[keys.ENGINE]
    directory = await seed_directory(engine, datetime.now(UTC), random.Random(7))
    customer = directory["customers"][0].id  # type: ignore[attr-defined]
    bus = build_bus(engine, app[keys.CLOCK], writer=app[keys.WRITER])
    numbers = [
        (
            await bus.handle(c.OpenTicket(title=f"Bench ticket {i}", customer_id=customer), system_context("bench"))
        ).number
        for i in range(args.tickets)
    ]
    print(f"READY {port} http://127.0.0.1:{connector_port}/ {min(numbers)} {max(numbers)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    await runner.cleanup()
    await fake.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="SQLite file to create")
    parser.add_argument("--tickets", type=int, default=100)
    asyncio.run(main(parser.parse_args()))
