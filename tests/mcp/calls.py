"""Makes the tool calls in `cfg["calls"]` (each `{"name", "arguments"}`) over one session,
in order, and prints one JSON line: a list with, per call, `error` (isError), `text` (the
first text content), `structured` (the structured content), or `protocol_error` (the
JSON-RPC error's message) when the server refused the call itself. The Rust side
decides what each answer must be; this script checks nothing."""

import asyncio
import json

from mcpclient import config, connect


async def main():
    cfg = config()
    out = []
    async with connect(cfg) as s:
        for c in cfg["calls"]:
            try:
                r = await s.call_tool(c["name"], c["arguments"])
            except Exception as e:  # a JSON-RPC error answer
                out.append({"protocol_error": str(e)})
                continue
            text = r.content[0].text if r.content else ""
            out.append(
                {"error": bool(r.is_error), "text": text, "structured": r.structured_content}
            )
    print(json.dumps(out))


asyncio.run(main())
