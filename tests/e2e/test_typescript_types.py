"""The TypeScript types generated from the OpenAPI documents (``scripts/sdk typescript``) compile, and type a
ticket the way the API returns it (``tsc --strict`` on a small consumer, including a deliberate type error)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, require_node, run_tool

pytestmark = pytest.mark.slow
CONSUMER = """\
import type { components, operations, paths } from "./v1";

type Ticket = components["schemas"]["Ticket"];
type Created = paths["/tickets"]["post"]["responses"][201]["content"]["application/json"];
type NewTicket = operations["createTicket"]["requestBody"]["content"]["application/json"];

export const body: NewTicket = { title: "VPN down", customer_id: "CUST-789", priority: "high" };
export function describe(ticket: Created): string {
    const same: Ticket = ticket;
    const assignee: string | null = same.assignee_id;
    return `#${same.number} ${same.status} ${assignee ?? "unassigned"}`;
}
// @ts-expect-error: the number of a ticket is a number
export const wrong: string = ({} as Ticket).number;
// @ts-expect-error: "urgent" is not a priority
export const bad: NewTicket = { title: "x", customer_id: "CUST-789", priority: "urgent" };
"""


async def test_typescript_types_compile_and_type_tickets(build_dir: Path) -> None:
    require_node()
    out = (await run_tool(ROOT / "scripts" / "sdk", "typescript", env={"BUILD_DIR": str(build_dir)})).check()
    types = build_dir / "sdk" / "typescript"
    assert (types / "v1.d.ts").exists(), out
    consumer = types / "consumer.ts"
    await asyncio.to_thread(consumer.write_text, CONSUMER, encoding="utf-8")
    tsc = ROOT / "tools" / "node_modules" / ".bin" / "tsc"
    flags = ("--noEmit", "--strict", "--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler")
    (await run_tool(tsc, *flags, consumer, *sorted(types.glob("v*.d.ts")))).check()
