"""Connecting the real Python MCP SDK (pinned in tests/support/requirements.txt) to
homelabd, over stdio or streamable HTTP, in either protocol era:

- "legacy": ClientSession.initialize(), the 2025-11-25 handshake;
- "modern": the high-level Client in auto mode, which speaks the stateless 2026-07-28
  protocol (server/discover) with homelabd.

Every script takes one argument: a JSON file with the connection ("transport", "era",
"command"/"args" or "url"/"token") and whatever the script checks against.
"""

import json
import sys
from contextlib import asynccontextmanager

import httpx2
from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


def config():
    with open(sys.argv[1]) as f:
        return json.load(f)


@asynccontextmanager
async def connect(cfg):
    modern = cfg["era"] == "modern"
    if cfg["transport"] == "stdio":
        params = StdioServerParameters(
            command=cfg["command"], args=cfg["args"], env=cfg.get("env")
        )
        if modern:
            async with Client(params, read_timeout_seconds=120) as c:
                yield c
        else:
            async with stdio_client(params) as (r, w):
                async with ClientSession(r, w) as s:
                    await s.initialize()
                    yield s
        return
    headers = {"Authorization": f"Bearer {cfg['token']}"}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
        transport = streamable_http_client(cfg["url"], http_client=http)
        if modern:
            async with Client(transport, read_timeout_seconds=120) as c:
                yield c
        else:
            async with transport as streams:
                async with ClientSession(streams[0], streams[1]) as s:
                    await s.initialize()
                    yield s


class Checks:
    """Counts checks and fails with a message naming the first one that does not hold."""

    def __init__(self):
        self.count = 0

    def eq(self, what, got, want):
        self.count += 1
        if got != want:
            raise AssertionError(f"{what}: got {got!r}, want {want!r}")

    def true(self, what, cond, detail=""):
        self.count += 1
        if not cond:
            raise AssertionError(f"{what} does not hold {detail}")


async def call(session, name, args):
    """Calls a tool that must answer: returns its structured content."""
    r = await session.call_tool(name, args)
    if r.is_error:
        raise AssertionError(f"{name}({args}) refused: {r.content[0].text}")
    if r.structured_content is None:
        raise AssertionError(f"{name} returned no structured content")
    if not r.content or not r.content[0].text.strip():
        raise AssertionError(f"{name} returned no text summary")
    return r.structured_content


async def refused(session, name, args):
    """Calls a tool that must refuse with isError: returns the text."""
    r = await session.call_tool(name, args)
    if not r.is_error:
        raise AssertionError(f"{name}({args}) was expected to refuse")
    return r.content[0].text
