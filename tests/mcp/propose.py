"""Calls one proposal tool (`cfg["tool"]` with `cfg["arguments"]`) and prints its
structured result as JSON on stdout, for the Rust side to check the branch, the commit
and the pull request against the repository and the GitHub simulator."""

import asyncio
import json

from mcpclient import call, config, connect


async def main():
    cfg = config()
    async with connect(cfg) as s:
        out = await call(s, cfg["tool"], cfg["arguments"])
    print(json.dumps(out))


asyncio.run(main())
