"""Lists homelabd's tools and checks what a client sees: exactly the expected tools,
annotations on every one (queries read-only; proposals neither read-only nor
destructive), output schemas, and input schemas with field docs, enums and defaults.
When proposals are hidden, calling one must fail with a JSON-RPC error saying why."""

import asyncio

from mcp.shared.exceptions import MCPError

from mcpclient import Checks, config, connect


async def main():
    cfg = config()
    c = Checks()
    async with connect(cfg) as s:
        listed = await s.list_tools()
        tools = {t.name: t for t in listed.tools}
        c.eq("tools", sorted(tools), sorted(cfg["expect_tools"]))
        proposals = set(cfg["proposal_tools"])
        for name, t in tools.items():
            a = t.annotations
            c.true(f"{name} has annotations", a is not None)
            c.true(f"{name} has a description", bool(t.description and len(t.description) > 40))
            c.true(f"{name} has an output schema", t.output_schema is not None and t.output_schema.get("type") == "object")
            if name in proposals:
                c.eq(f"{name} readOnlyHint", a.read_only_hint, False)
                c.eq(f"{name} destructiveHint", a.destructive_hint, False)
            else:
                c.eq(f"{name} readOnlyHint", a.read_only_hint, True)
        q = tools["query-resource-pools"].input_schema
        props = q["properties"]
        c.true("field docs", "prefix" in props["path_pattern"]["description"], props["path_pattern"])
        c.eq("defaults", props["include_groups"].get("default"), True)
        pool_type = str(props["pool_type"]) + str(q.get("$defs", {}))
        c.true("enums", "kubernetes" in pool_type and "cloud" in pool_type, pool_type)
        c.eq("unknown fields refused", q.get("additionalProperties"), False)
        if cfg.get("refused_proposal"):
            try:
                r = await s.call_tool("deploy-with-intelligence", {"name": "x", "workload": {"workload_type": "ci-cd"}, "dry_run": True})
                raise AssertionError(f"a hidden proposal tool answered: {r}")
            except MCPError as e:
                c.true("refusal says why", cfg["refused_proposal"] in str(e), str(e))
    print(f"OK {c.count} checks")


asyncio.run(main())
