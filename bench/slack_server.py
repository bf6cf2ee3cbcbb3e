"""The server side of ``bench.slack``, in its own process.

    python -m bench.slack_server --mode ours|bare|bare-inline --db PATH --secret S

``ours``: the real service (``create_app``, sandbox with a signing secret, so every request is verified; JSON
request logs to a file) on a fresh SQLite database with the demo directory and ``--tickets`` tickets; the Slack
Web API is a minimal loopback stand-in in this process (``/psa ticket`` answers in the acknowledgement, so it is
only needed for first-use linking and lazy work). ``bare``: a slack-bolt ``AsyncApp`` with the same signing secret
whose ``/psa`` listener only acknowledges, mounted with Bolt's aiohttp adapter functions (the baseline), with Bolt's
defaults (``bare``) or with the ack run inline like ours (``bare-inline``).
Prints ``READY <port> <first ticket> <last ticket>`` and exits when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult

from psa_chatops.bot import keys
from psa_chatops.bot.app import create_app
from psa_chatops.bot.bootstrap import build_bus, system_context
from psa_chatops.bot.demo import seed_directory
from psa_chatops.bot.logs import configure_logging
from psa_chatops.bot.settings import Settings
from psa_chatops.core import commands as c

BENCH_TOKEN = "xoxb-bench"  # noqa: S105 - a placeholder: the bare app never calls the Web API


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def fake_slack_api(port: int) -> web.AppRunner:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True, "ts": "1.000001", "channel": "C0BENCH"})

    app = web.Application()
    app.router.add_route("*", "/api/{method}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def ours(args: argparse.Namespace, port: int) -> tuple[list[web.AppRunner], int, int]:
    configure_logging("INFO", "json", path=str(Path(args.db).with_suffix(".log")))
    api_port = free_port()
    fake = await fake_slack_api(api_port)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{args.db}",
        sandbox=True,
        public_url=f"http://127.0.0.1:{port}",
        slack_signing_secret=args.secret,
        slack_api_url=f"http://127.0.0.1:{api_port}/api/",
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    engine = app[keys.ENGINE]
    directory = await seed_directory(engine, datetime.now(UTC), random.Random(7))
    customer = directory["customers"][0].id  # type: ignore[attr-defined]
    bus = build_bus(engine, app[keys.CLOCK], writer=app[keys.WRITER])
    context = system_context("bench")
    numbers = [
        (await bus.handle(c.OpenTicket(title=f"Bench ticket {i}", customer_id=customer), context)).number
        for i in range(args.tickets)
    ]
    return [runner, fake], min(numbers), max(numbers)


async def bare(args: argparse.Namespace, port: int) -> list[web.AppRunner]:
    async def authorize(enterprise_id: str | None, team_id: str | None, **_: object) -> AuthorizeResult:
        """A fixed token, as ours has: no ``auth.test`` round trip on either side."""
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=BENCH_TOKEN)

    # ``bare``: Bolt's defaults (``process_before_response=False``: the listener runs in a task and the request
    # waits for its ack, polling every 10 ms). ``bare-inline``: the ack runs inline, as ours does.
    bolt = AsyncApp(signing_secret=args.secret, authorize=authorize, process_before_response=args.mode == "bare-inline")

    @bolt.command("/psa")
    async def only_ack(ack: AsyncAck) -> None:
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return [runner]


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    if args.mode in ("bare", "bare-inline"):
        runners, first, last = await bare(args, port), 1, 1
    else:
        runners, first, last = await ours(args, port)
    print(f"READY {port} {first} {last}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    for runner in runners:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("ours", "bare", "bare-inline"), required=True)
    parser.add_argument("--db", help="SQLite file to create (ours mode)")
    parser.add_argument("--secret", required=True, help="the Slack signing secret both sides use")
    parser.add_argument("--tickets", type=int, default=100)
    asyncio.run(main(parser.parse_args()))
