"""``psa``: run, operate and inspect the service. Every command has ``--help``; long work shows a progress bar."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from aiohttp import web
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Column, Table

from psa_chatops import __version__
from psa_chatops.bot.settings import Settings, describe_validation_error
from psa_chatops.storage.engine import create_engine
from psa_chatops.storage.migrations import upgrade
from psa_chatops.storage.outbox import OutboxStore

T = TypeVar("T")
console = Console()
err = Console(stderr=True)

app = typer.Typer(
    help="psa-chatops: your PSA in Slack, Teams, e-mail and REST.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
events_app = typer.Typer(help="Inspect the ticket event store.", no_args_is_help=True)
outbox_app = typer.Typer(help="Inspect and replay outbound deliveries.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for the sandbox.", no_args_is_help=True)
apikey_app = typer.Typer(help="Create, list and revoke REST API keys.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(outbox_app, name="outbox")
app.add_typer(demo_app, name="demo")
app.add_typer(apikey_app, name="apikey")
try_app = typer.Typer(help="Try the chat adapters without a workspace.", no_args_is_help=True)
manifest_app = typer.Typer(help="App manifests for the chat platforms.", no_args_is_help=True)
app.add_typer(try_app, name="try")
app.add_typer(manifest_app, name="manifest")


def load_settings(**overrides: Any) -> Settings:
    """Settings or one clear line and exit code 2: a typo in the environment must not print a traceback."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err.print(f"[red]Invalid settings:[/red] {describe_validation_error(exc)}")
        raise typer.Exit(2) from None


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


async def _engine(settings: Settings) -> Any:
    engine = await asyncio.to_thread(create_engine, settings.database_url)  # may create the SQLite folder
    await upgrade(engine)
    return engine


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (PSA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (PSA_PORT).")] = None,
    sandbox: Annotated[
        bool | None, typer.Option("--sandbox/--no-sandbox", help="Record deliveries, never send.")
    ] = None,
) -> None:
    """Run the web service (with the dispatcher and scheduler unless PSA_RUN_BACKGROUND=0)."""
    settings = load_settings(host=host, port=port, sandbox=sandbox)
    _serve(settings)


def _serve(settings: Settings) -> None:
    from psa_chatops.bot.app import create_app
    from psa_chatops.bot.logs import configure_logging
    from psa_chatops.i18n import preload

    configure_logging(settings.log_level, settings.log_format)
    preload()
    mode = "sandbox" if settings.sandbox else "production"
    err.print(
        f"psa-chatops {__version__} ({mode}) on http://{settings.host}:{settings.port}  "
        f"database: {settings.redacted_database_url()}"
    )
    err.print(f"  health: http://{settings.host}:{settings.port}/healthz   ready: /readyz   metrics: /metrics")
    if settings.sandbox:
        err.print("  deliveries are recorded, not sent: `psa outbox list` shows them")
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None)


@app.command()
def worker() -> None:
    """Run only the background work (outbox dispatcher + SLA scheduler), for a separate worker process."""
    from psa_chatops.bot.logs import configure_logging
    from psa_chatops.bot.worker_process import run_worker

    settings = load_settings(run_background=True)
    configure_logging(settings.log_level, settings.log_format)
    err.print(f"psa-chatops {__version__} worker: dispatcher + scheduler on {settings.redacted_database_url()}")
    run(run_worker(settings))


@app.command()
def migrate() -> None:
    """Apply database migrations (also done on start)."""
    from psa_chatops.storage.migrations import current_revision

    settings = load_settings()

    async def main() -> str | None:
        engine = await _engine(settings)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    console.print(f"database at revision {run(main())} ({settings.redacted_database_url()})")


@app.command()
def sandbox(
    tickets: Annotated[int, typer.Option(help="Demo tickets to create on first run.")] = 500,
) -> None:
    """Migrate, seed demo data and serve in sandbox mode: the newcomer's one command."""
    settings = load_settings(sandbox=True)
    _seed(settings, tickets)
    _print_sandbox_token(settings)
    _serve(settings)


def _print_sandbox_token(settings: Settings) -> None:
    """A developer key for the demo data, so the API can be tried at once (more: POST /api/v1/sandbox/tokens)."""
    from datetime import timedelta

    from psa_chatops.bot.api import sandbox as tokens

    now = datetime.now(UTC)
    created = run(
        _with_keys(
            settings,
            lambda keys: keys.create(
                name=tokens.NAME,
                scopes=tokens.SCOPES,
                created_by="sandbox:cli",
                now=now,
                expires_at=now + tokens.LIFETIME,
                sandbox=True,
            ),
        )
    )
    base = f"http://{settings.host}:{settings.port}"
    hours = int(tokens.LIFETIME / timedelta(hours=1))
    err.print(f"  sandbox API key (valid {hours} h, shown once): [bold]{created.secret}[/bold]", soft_wrap=True)
    err.print(
        f"  try it: curl -H 'Authorization: Bearer {created.secret}' {base}/api/v1/tickets?limit=3", soft_wrap=True
    )
    err.print(f"  API docs (Swagger UI): {base}/docs")


@demo_app.command("seed")
def demo_seed(tickets: Annotated[int, typer.Option(min=0, max=100_000, help="Demo tickets to create.")] = 500) -> None:
    """Fill the database with deterministic demo data (idempotent)."""
    _seed(load_settings(), tickets)


def _seed(settings: Settings, tickets: int) -> None:
    from psa_chatops.bot.demo import seed

    async def main() -> Any:
        engine = await _engine(settings)
        try:
            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("Seeding demo tickets", total=tickets)
                return await seed(
                    engine, now=datetime.now(UTC), tickets=tickets, progress=lambda n: bar.advance(task, n)
                )
        finally:
            await engine.dispose()

    report = run(main())
    if report.skipped:
        err.print("demo data already present; nothing to do")
    else:
        err.print(
            f"seeded {report.customers} customers, {report.contacts} contacts, {report.technicians} technicians, "
            f"{report.assets} assets and {report.tickets} tickets"
        )


@events_app.command("verify")
def events_verify() -> None:
    """Rebuild every ticket from its events and report drift from the projection (exit 1 on drift)."""
    from psa_chatops.storage.verify import aggregate_ids, verify

    settings = load_settings()

    async def main() -> Any:
        engine = await _engine(settings)
        try:
            total = len(await aggregate_ids(engine))
            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("Verifying tickets", total=total)
                return await verify(engine, progress=lambda n: bar.advance(task, n))
        finally:
            await engine.dispose()

    checked, drifts = run(main())
    for d in drifts[:50]:
        console.print(f"#{d.number} {d.field}: projection={d.projected!r} events={d.rebuilt!r}")
    console.print(f"{checked} tickets checked, {len(drifts)} drift(s)")
    if drifts:
        raise typer.Exit(1)


@outbox_app.command("list")
def outbox_list(
    status: Annotated[str | None, typer.Option(help="pending, delivered, recorded or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines with the payloads.")] = False,
) -> None:
    """List the newest outbox rows."""
    from psa_chatops.storage.outbox import RowStatus

    if status is not None and status not in {s.value for s in RowStatus}:
        err.print(f"[red]--status must be one of {', '.join(s.value for s in RowStatus)}[/red]")
        raise typer.Exit(2)
    rows = run(_with_store(load_settings(), lambda store: store.rows(status=status, limit=limit)))
    if as_json:
        for r in rows:
            console.print_json(
                json.dumps(
                    {
                        "id": r.id,
                        "status": r.status,
                        "destination": r.destination,
                        "event_type": r.event_type,
                        "attempts": r.attempts,
                        "payload": r.payload,
                    },
                    default=str,
                    ensure_ascii=False,
                )
            )
        return
    table = Table("id", "status", "destination", "event", "ticket", "attempts", "last error")
    for r in rows:
        table.add_row(
            str(r.id),
            r.status,
            r.destination,
            r.event_type,
            str(r.ticket_number or ""),
            str(r.attempts),
            (r.last_error or "")[:60],
        )
    console.print(table)


@outbox_app.command("replay")
def outbox_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Outbox row ids to send again.")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Replay every dead-lettered row.")] = False,
) -> None:
    """Put delivered or dead rows back in the queue (receivers drop duplicates by Idempotency-Key)."""
    if not ids and not dead:
        err.print("[red]give row ids or --dead[/red]")
        raise typer.Exit(2)
    now = datetime.now(UTC)
    count = run(_with_store(load_settings(), lambda store: store.replay(ids=ids or (), dead=dead, now=now)))
    console.print(f"{count} row(s) queued for delivery")


async def _with_store(settings: Settings, use: Callable[[Any], Awaitable[T]]) -> T:
    engine = await _engine(settings)
    try:
        return await use(OutboxStore(engine))
    finally:
        await engine.dispose()


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'RMM integration'.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated, e.g. tickets:read,tickets:write.")],
    customer: Annotated[
        list[str] | None, typer.Option(help="Limit the key to this customer id (repeat for more).")
    ] = None,
    allow: Annotated[
        list[str] | None, typer.Option(help="Accept requests only from this network, e.g. 203.0.113.0/24 (repeat).")
    ] = None,
    expires_days: Annotated[int | None, typer.Option(min=1, max=3650, help="Expire after this many days.")] = None,
    signing_secret: Annotated[
        bool, typer.Option("--signing-secret", help="Also create a secret its requests must be signed with (HMAC).")
    ] = False,
) -> None:
    """Create an API key and print it once: only its hash is stored, so it cannot be shown again."""
    from datetime import timedelta

    from psa_chatops.bot.api.principal import SCOPES, unknown_scopes
    from psa_chatops.storage.api_keys import new_signing_secret, validate_networks

    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    unknown = unknown_scopes(wanted)
    if not wanted or unknown:
        err.print(f"[red]unknown scopes: {', '.join(unknown) or '(none given)'}[/red]; known: {', '.join(SCOPES)}")
        raise typer.Exit(2)
    try:
        networks = list(validate_networks(allow)) if allow else None
    except ValueError as exc:
        err.print(f"[red]--allow: {exc}[/red]")
        raise typer.Exit(2) from None
    now = datetime.now(UTC)
    expires_at = now + timedelta(days=expires_days) if expires_days else None
    secret = new_signing_secret() if signing_secret else None
    created = run(
        _with_keys(
            load_settings(),
            lambda keys: keys.create(
                name=name,
                scopes=wanted,
                created_by="cli",
                now=now,
                customer_ids=customer or None,
                allowed_networks=networks,
                expires_at=expires_at,
                signing_secret=secret,
            ),
        )
    )
    record = created.record
    console.print(f"id:     {record.id}\nscopes: {' '.join(record.scopes)}")
    if record.customer_ids:
        console.print(f"customers: {' '.join(record.customer_ids)}")
    typer.echo(created.secret)  # verbatim: no wrapping or markup
    if secret:
        typer.echo(f"signing secret: {secret}")
    err.print("[yellow]Store this key now: it will not be shown again.[/yellow]")


@apikey_app.command("list")
def apikey_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per key.")] = False,
) -> None:
    """List API keys (never their secrets), as a table or as JSON lines."""
    records = run(_with_keys(load_settings(), lambda keys: _all_keys(keys)))
    if as_json:
        for r in records:
            document = {
                "id": r.id,
                "name": r.name,
                "scopes": list(r.scopes),
                "customer_ids": r.customer_ids,
                "allowed_networks": r.allowed_networks,
                "sandbox": r.sandbox,
                "created_by": r.created_by,
                "created_at": r.created_at,
                "expires_at": r.expires_at,
                "revoked_at": r.revoked_at,
                "last_used_at": r.last_used_at,
            }
            typer.echo(json.dumps(document, default=str, ensure_ascii=False))  # one per line: for jq and scripts
        return
    table = Table(
        Column("id", no_wrap=True), "name", "scopes", "customers", "created", "expires", "revoked", "last used"
    )
    for r in records:
        table.add_row(
            r.id,
            r.name,
            " ".join(r.scopes),
            " ".join(r.customer_ids or ()) or "all",
            _day(r.created_at),
            _day(r.expires_at),
            _day(r.revoked_at),
            _day(r.last_used_at),
        )
    console.print(table)


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (the part after psa_).")]) -> None:
    """Revoke an API key: it stops working at once (within 30 seconds on running servers)."""
    now = datetime.now(UTC)
    revoked = run(_with_keys(load_settings(), lambda keys: keys.revoke(key_id, now=now)))
    if not revoked:
        err.print(f"[red]no active API key {key_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


@apikey_app.command("signing-secret")
def apikey_signing_secret(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after psa_).")],
    clear: Annotated[bool, typer.Option("--clear", help="Remove the secret: requests need no signature.")] = False,
) -> None:
    """Give a key a new signing secret (printed once; the old one stops working within 30 seconds) or remove it."""
    from psa_chatops.storage.api_keys import new_signing_secret

    secret = None if clear else new_signing_secret()
    if not run(_with_keys(load_settings(), lambda keys: keys.set_signing_secret(key_id, secret))):
        err.print(f"[red]no API key {key_id}[/red]")
        raise typer.Exit(1)
    if secret is None:
        console.print(f"{key_id}: requests need no signature now")
        return
    typer.echo(secret)  # verbatim, like the key itself
    err.print("[yellow]Store this secret now: sign every POST and /security request with it (see /docs).[/yellow]")


async def _with_keys(settings: Settings, use: Callable[[Any], Awaitable[T]]) -> T:
    from psa_chatops.storage.api_keys import ApiKeyStore

    engine = await _engine(settings)
    try:
        return await use(ApiKeyStore(engine))
    finally:
        await engine.dispose()


async def _all_keys(keys: Any) -> list[Any]:
    records: list[Any] = []
    while True:
        batch = await keys.list(limit=500, after=records[-1].id if records else None)
        records += batch
        if len(batch) < 500:
            return records


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


@app.command()
def doctor() -> None:
    """Check configuration and connectivity; print each problem with its fix (exit 1 if any)."""
    from psa_chatops.bot.doctor import run_checks

    try:
        settings = Settings()
    except ValidationError as exc:
        console.print(f"[red]✗ settings[/red]  {describe_validation_error(exc)}")
        raise typer.Exit(1) from None
    results = run(run_checks(settings))
    for check in results:
        mark = "[green]✓[/green]" if check.ok else ("[yellow]![/yellow]" if check.warning else "[red]✗[/red]")
        console.print(f"{mark} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            console.print(f"    fix: {check.fix}")
    if any(not c.ok and not c.warning for c in results):
        raise typer.Exit(1)


def main() -> None:
    app(prog_name="psa")


if __name__ == "__main__":
    main()


@try_app.command("slack")
def try_slack(
    command: Annotated[str, typer.Argument(help="The slash command, e.g. '/psa ticket 12345'.")],
    user: Annotated[str, typer.Option(help="The Slack user id that runs it.")] = "UTRY",
    technician: Annotated[
        str | None, typer.Option(help="Link that user to this technician id first (outside the sandbox).")
    ] = None,
) -> None:
    """Run a Slack command through the real handlers (no network) and print its messages with Block Kit links."""
    from psa_chatops.bot.slack import try_it

    settings = load_settings()
    captured = run(try_it.run(settings, try_it.Trial(command, user_id=user, technician=technician)))
    typer.echo(try_it.report(captured))


@try_app.command("teams")
def try_teams(
    text: Annotated[str, typer.Argument(help="The chat message, e.g. 'ticket 12345'.")],
    user: Annotated[str, typer.Option(help="The Teams user's AAD object id that sends it.")] = "aad-try",
    technician: Annotated[str | None, typer.Option(help="Link that user to this technician id first.")] = None,
) -> None:
    """Run a Teams chat message through the real handlers (no network) and print the cards it produced."""
    from psa_chatops.bot.teams import try_it

    settings = load_settings()
    captured = run(try_it.run(settings, try_it.Trial(text, user_id=user, technician=technician)))
    typer.echo(try_it.report(captured))


@manifest_app.command("slack")
def manifest_slack(
    url: Annotated[str, typer.Option(help="The service's public https URL.")],
    ticket_reaction: Annotated[
        bool, typer.Option(help="Also ask for what the 🎫 reaction needs (set SLACK_TICKET_REACTION too).")
    ] = False,
) -> None:
    """Print the Slack app manifest (JSON) for this service at URL."""
    from psa_chatops.bot.slack import manifest

    try:
        document = manifest.render(manifest.read_template(), url, ticket_reaction=ticket_reaction)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


@manifest_app.command("teams")
def manifest_teams(
    app_id: Annotated[str, typer.Option(help="The bot's Microsoft App ID (a GUID), also the Teams app id.")],
    url: Annotated[str, typer.Option(help="The service's public https URL.")],
    out: Annotated[str, typer.Option(help="Folder to write psa-chatops-teams.zip into.")] = ".",
) -> None:
    """Build the Teams app package (manifest.json and the two icons) for this service at URL."""
    from pathlib import Path

    from psa_chatops.bot.teams import manifest

    try:
        document = manifest.render(manifest.read_template(), app_id, url)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    target = manifest.build(document, Path(out))
    typer.echo(str(target.resolve()))  # verbatim: no wrapping or markup
    err.print("Upload it in Teams: Apps > Manage your apps > Upload an app.")


# --- psa calendar: the customers' iCalendar feeds and the Microsoft 365 calendar sync ---------------------------------

calendar_app = typer.Typer(help="Maintenance window calendars: iCalendar feeds and the Microsoft 365 sync.")
app.add_typer(calendar_app, name="calendar", no_args_is_help=True)


@calendar_app.command("feed")
def calendar_feed(
    customer: Annotated[str, typer.Option(help="The customer whose maintenance windows the feed shows.")],
) -> None:
    """Create an iCalendar feed and print its URL once: only the token's hash is stored."""
    from psa_chatops.bot import calendar

    settings = load_settings()
    token = run(calendar.create_feed(settings, customer, created_by="cli", now=datetime.now(UTC)))
    if token is None:
        err.print(f"[red]no customer {customer}[/red]")
        raise typer.Exit(1)
    typer.echo(calendar.feed_url(settings, token))  # verbatim: no wrapping or markup
    err.print("[yellow]Store this URL now: it will not be shown again.[/yellow]")


@calendar_app.command("revoke")
def calendar_revoke(feed: Annotated[str, typer.Argument(help="The feed's URL (or just its token).")]) -> None:
    """Revoke a feed: its URL answers 404 from now on."""
    from psa_chatops.bot import calendar

    if not run(calendar.revoke_feed(load_settings(), feed, now=datetime.now(UTC))):
        err.print("[red]no active feed with this URL[/red]")
        raise typer.Exit(1)
    console.print("revoked")


@calendar_app.command("sync")
def calendar_sync() -> None:
    """Queue every maintenance window for the Microsoft 365 calendar (after configuring it: existing windows)."""
    from psa_chatops.bot import calendar

    settings = load_settings()
    if calendar.configured_calendar(settings) is None:
        err.print("[red]no calendar configured[/red]: set PSA_GRAPH_CALENDAR_USER (or _GROUP) and PSA_GRAPH_*")
        raise typer.Exit(2)
    queued = run(calendar.queue_all_windows(settings, now=datetime.now(UTC)))
    console.print(f"queued {queued} maintenance window(s); the dispatcher (psa serve / psa worker) delivers them")


# --- psa mail: what the e-mail intake reads out of a message ----------------------------------------------------------

mail_app = typer.Typer(
    help="Inbound e-mail: see what the intake reads out of a message, read the mailboxes.", no_args_is_help=True
)
app.add_typer(mail_app, name="mail")


@mail_app.command("parse")
def mail_parse(
    source: Annotated[str, typer.Argument(help="An RFC 822 file (.eml), a pasted body as a text file, or - (stdin).")],
    body_only: Annotated[bool, typer.Option("--body-only", help="Print only the cleaned body.")] = False,
    directory: Annotated[
        bool,
        typer.Option(
            "--directory/--no-directory",
            help="Match the sender against the customers, contacts and assets in the database (when one is set up).",
        ),
    ] = True,
) -> None:
    """Print what the intake reads out of one mail, as JSON: customer, contact, priority, asset, ticket, commands,
    cleaned body, removed quote and signature, attachments and flags (triage, auto-reply)."""
    import sys
    from pathlib import Path

    from psa_chatops.integrations.mail.extract import parse_mail

    if source == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            err.print(f"[red]cannot read {source}: {exc.strerror or exc}[/red]")
            raise typer.Exit(2) from None
    settings = load_settings()
    known = run(_mail_directory(settings)) if directory and _database_set_up(settings) else None
    parsed = parse_mail(data, known)
    if body_only:
        typer.echo(parsed.body)
        return
    document = {**parsed.as_json(), "directory_matching": known is not None}
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _database_set_up(settings: Settings) -> bool:
    """PSA_DATABASE_URL is set, or the default SQLite file exists: never create a database just to parse a mail."""
    import os
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from psa_chatops.storage.engine import is_sqlite

    if "PSA_DATABASE_URL" in os.environ:
        return True
    database = make_url(settings.database_url).database if is_sqlite(settings.database_url) else None
    return database is not None and Path(database).exists()


async def _mail_directory(settings: Settings) -> Any:
    """Customers, contacts and assets from the configured database, for matching the sender and the assets."""
    from psa_chatops.integrations.mail.extract import MailDirectory
    from psa_chatops.storage import directory as stored

    engine = await _engine(settings)
    try:
        async with engine.connect() as conn:
            return MailDirectory(
                customers=tuple(await stored.every(conn, stored.CUSTOMERS)),
                contacts=tuple(await stored.every(conn, stored.CONTACTS)),
                assets=tuple(await stored.every(conn, stored.ASSETS)),
            )
    finally:
        await engine.dispose()


@mail_app.command("poll")
def mail_poll(
    once: Annotated[bool, typer.Option("--once", help="One round per mailbox, then exit (cron, tests).")] = False,
    mailbox: Annotated[
        list[str] | None, typer.Option("--mailbox", "-m", help="Only this mailbox (its name or user@host); repeatable.")
    ] = None,
) -> None:
    """Read the mailboxes of PSA_MAILBOXES into tickets and notes: each message is marked (flag, move or delete)
    only after its ticket or note is committed. Without --once it keeps running (IMAP IDLE, polling otherwise)
    until interrupted; `psa worker` and `psa serve` do the same in the background."""
    from psa_chatops.bot.bootstrap import build_bus
    from psa_chatops.handlers.mail_intake import Outcome
    from psa_chatops.integrations.mail_in.wiring import mailbox_runners
    from psa_chatops.integrations.resilience import BreakerBoard
    from psa_chatops.storage.sqlite_writer import SqliteWriter
    from psa_chatops.storage.unit_of_work import SystemClock

    settings = load_settings()
    chosen = [m for m in settings.mailboxes if not mailbox or m.label in mailbox]
    if not chosen:
        err.print("[red]no mailbox to read[/red]: set PSA_MAILBOXES (see README, E-mail intake)" if not mailbox
                  else f"[red]no mailbox named {', '.join(mailbox)}[/red]")  # fmt: skip
        raise typer.Exit(2)

    async def main() -> int:
        engine = await _engine(settings)
        writer = SqliteWriter(settings.database_url) if settings.is_sqlite else None
        try:
            bus = build_bus(engine, SystemClock(), writer=writer, alert_policy=settings.alert_policy)
            runners = mailbox_runners(chosen, engine, writer, bus, BreakerBoard())
            if not once:
                await asyncio.gather(*(runner.run() for runner in runners.values()))
                return 0
            failed = 0
            for runner in runners.values():
                try:
                    result = await runner.once()
                except Exception as exc:  # one broken mailbox must not hide the others' results
                    failed += 1
                    err.print(f"[red]{runner.mailbox.label}[/red]: {str(exc)[:300] or type(exc).__name__}")
                    continue
                counts = ", ".join(
                    f"{outcome.value} {result.count(outcome)}" for outcome in Outcome if result.count(outcome)
                )
                refused = f", refused {result.refused}" if result.refused else ""
                console.print(f"{runner.mailbox.label}: {len(result.taken)} message(s){': ' if counts else ''}"
                              f"{counts}{refused}")  # fmt: skip
            return 1 if failed else 0
        finally:
            if writer is not None:
                await asyncio.to_thread(writer.close)
            await engine.dispose()

    raise typer.Exit(run(main()))


# --- psa report: the scheduled e-mail reports, now -----------------------------------------------------------------

report_app = typer.Typer(
    help="Scheduled e-mail reports: send one now, or see what it would send.", no_args_is_help=True
)
app.add_typer(report_app, name="report")


class ReportName(StrEnum):
    daily_sla = "daily-sla"
    weekly_customer = "weekly-customer"


@report_app.command("send")
def report_send(
    report: Annotated[ReportName, typer.Argument(help="daily-sla (technicians) or weekly-customer (contacts).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the mails; queue nothing.")] = False,
) -> None:
    """Queue a report's mails (a period already queued is not queued again); the dispatcher sends them."""
    from psa_chatops.bot.scheduler import send_report
    from psa_chatops.storage.unit_of_work import SystemClock

    settings = load_settings()
    if not dry_run and not settings.mail_configured():
        err.print(
            "[red]e-mail is not configured[/red]: set PSA_MAIL_FROM and PSA_SMTP_URL (or PSA_MAIL_TRANSPORT=graph)"
        )
        raise typer.Exit(2)

    async def main() -> tuple[list[Any], int]:
        engine = await _engine(settings)
        try:
            return await send_report(report.value, engine=engine, writer=None, clock=SystemClock(), dry_run=dry_run)
        finally:
            await engine.dispose()

    mails, added = run(main())
    for mail in mails:
        console.print(
            f"{mail.address}\t{mail.event_type}\t{mail.period}\t{_report_counts(mail.payload)}",
            soft_wrap=True,
            markup=False,
        )
    if dry_run:
        console.print(f"{len(mails)} mail(s) would be sent (dry run: nothing queued)")
    else:
        console.print(f"{len(mails)} mail(s), {added} queued; the dispatcher (psa serve / psa worker) sends them")


def _report_counts(payload: dict[str, Any]) -> str:
    if payload.get("report") == "daily-sla":
        return f"breached={payload.get('breached_count', 0)} at_risk={payload.get('at_risk_count', 0)}"
    return (
        f"customer={payload.get('customer')} opened={payload.get('opened_count', 0)} "
        f"closed={payload.get('closed_count', 0)} sla_kept={payload.get('sla_kept', 0)}/{payload.get('sla_total', 0)}"
    )


# --- end psa report ---
