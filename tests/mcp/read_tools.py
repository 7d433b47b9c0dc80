"""Calls every read-only tool, the prompts and the resources of homelabd, and checks the
answers against what the Rust side read from the repository itself (its YAML files),
from `homelabd plan` and `homelabd render`, and from the store. Prints the number of
checks that held."""

import asyncio

from mcpclient import Checks, call, config, connect, refused

QUERY_TOOLS = {
    "discover-infrastructure-context", "query-resource-pools", "list-deployment-templates",
    "list-available-helm-charts", "get-deployment-status", "compare-expected-vs-actual-state",
    "detect-infrastructure-anomalies", "validate-universal-definition",
    "translate-universal-to-provider", "analyze-resource-requirements",
    "find-optimal-placement", "find-best-provider-for-workload",
    "plan-migration-from-snapshot", "get-deployment-sop",
    "get-resource-allocation-guidelines", "get-placement-strategy",
}


async def pages(tool, name, args, key):
    """Every item of a paged tool, following next_cursor; and the number of pages."""
    items, cursor, seen = [], None, 0
    while True:
        a = dict(args, **({"cursor": cursor} if cursor else {}))
        out = await tool(name, a)
        items += out[key]
        cursor = out["page"].get("next_cursor")
        seen += 1
        if not cursor:
            return items, seen


async def main():
    cfg = config()
    x = cfg["expect"]
    c = Checks()
    store = x.get("store")
    async with connect(cfg) as s:
        called = set()

        async def tool(name, args):
            called.add(name)
            return await call(s, name, args)

        # discover-infrastructure-context
        d = await tool("discover-infrastructure-context", {})
        c.eq("revision", d["revision"], x["revision"])
        c.eq("pools", sorted(p["path"] for p in d["pools"]), sorted(p["path"] for p in x["pools"]))
        c.eq("valid resources", d["counts"]["resources_valid"], len(x["resources"]))
        c.eq("workload types", sorted(w["name"] for w in d["workload_types"]), sorted(x["workload_types"]))
        c.eq("templates", sorted(t["name"] for t in d["templates"]), sorted(x["templates"]))
        c.eq("charts", sorted(d["charts"]), sorted(x["charts"]))
        c.eq("store reported", "store" in d, store is not None)
        if store:
            c.eq("store's last revision", d["store"]["last_revision"], x["revision"])

        # query-resource-pools, paged 4 at a time
        pools, n = await pages(tool, "query-resource-pools", {"limit": 4}, "pools")
        c.eq("paged pools", [p["path"] for p in pools], sorted(p["path"] for p in x["pools"]))
        c.true("more than one page", n > 1, n)
        by_path = {p["path"]: p for p in pools}
        for want in x["pools"]:
            got = by_path[want["path"]]
            c.eq(f"nodes of {want['path']}", [n["name"] for n in got["nodes"]], want["nodes"])
        for name, p in x["placements"].items():
            pool = by_path[p["pool"]]
            c.true(f"{name} listed in {p['pool']}", name in pool["resources"])
            for node in p["nodes"]:
                n = next(n for n in pool["nodes"] if n["name"] == node)
                c.true(f"{name} on node {node}", name in n["resources"])
        gpu = await tool("query-resource-pools", {"free_gpu": True, "include_groups": False})
        c.eq("pools with a free GPU", [p["path"] for p in gpu["pools"]], x["free_gpu_pools"])
        cloud = await tool("query-resource-pools", {"pool_type": "cloud"})
        c.eq("cloud pools", [p["path"] for p in cloud["pools"]], sorted(p["path"] for p in x["pools"] if p["pool_type"] == "cloud"))

        # list-deployment-templates
        t = await tool("list-deployment-templates", {})
        c.eq("template names", [t["name"] for t in t["templates"]], sorted(x["templates"]))
        for tpl in t["templates"]:
            c.eq(f"users of {tpl['name']}", tpl["used_by"], x["templates"][tpl["name"]])

        # list-available-helm-charts
        ch = await tool("list-available-helm-charts", {})
        c.eq("chart names", [c_["name"] for c_ in ch["charts"]], sorted(x["charts"]))
        for chart in ch["charts"]:
            want = x["charts"][chart["name"]]
            c.eq(f"provider of {chart['name']}", chart["provider"], want["provider"])
            c.eq(f"capabilities of {chart['name']}", chart["capabilities"], want["capabilities"])
        g = await tool("list-available-helm-charts", {"capability": "gpu"})
        c.eq("GPU charts", sorted(c_["name"] for c_ in g["charts"]), sorted(n for n, v in x["charts"].items() if "gpu" in v["capabilities"]))
        c.eq("matrix rows", sorted(m["workload_type"] for m in ch["compatibility"]), sorted(x["workload_types"]))

        # get-deployment-status
        st, _ = await pages(tool, "get-deployment-status", {"limit": 4, "runs": 2}, "resources")
        c.eq("status names", [r["name"] for r in st], sorted(x["resources"]))
        for r in st:
            p = x["placements"][r["name"]]
            c.eq(f"status placement of {r['name']}", (r["placement"]["provider"], r["placement"]["pool"], r["placement"]["nodes"]), (p["provider"], p["pool"], p["nodes"]))
            if store:
                c.eq(f"recorded state of {r['name']}", r["recorded"]["state"], store["states"][r["name"]])
                c.eq(f"{r['name']} up to date", r["up_to_date"], True)
            else:
                c.true(f"no record of {r['name']}", "recorded" not in r)
        if store:
            one = await tool("get-deployment-status", {"resource": store["run"]["resource"], "runs": 5})
            run = one["resources"][0]["runs"][0]
            for k in ("state", "exit_code", "stderr_tail", "stdout_tail", "executor"):
                c.eq(f"run {k}", run[k], store["run"][k])
            # A destroyed resource: left out of the listing, shown on request with its runs.
            gone = store["destroyed"]
            c.true("destroyed left out", gone not in [r["name"] for r in st])
            every, _ = await pages(tool, "get-deployment-status", {"limit": 50, "include_destroyed": True}, "resources")
            listed = {r["name"]: r for r in every}
            c.eq("destroyed listed on request", listed.get(gone, {}).get("recorded", {}).get("state"), "destroyed")
            one = await tool("get-deployment-status", {"resource": gone})
            rec = one["resources"][0]
            c.eq("destroyed state", rec["recorded"]["state"], "destroyed")
            c.true("destroyed at", bool(rec["recorded"].get("destroyed_at")), rec)
            c.eq("destroyed not defined", rec["defined"], False)
            c.eq("last run of destroyed", (rec["runs"][0]["operation"], rec["runs"][0]["state"]), ("destroy", "succeeded"))
        text = await refused(s, "get-deployment-status", {"resource": "olama-server"})
        c.true("unknown resource names the closest", "ollama-server" in text, text)

        # compare-expected-vs-actual-state
        if store:
            dr = await tool("compare-expected-vs-actual-state", {})
            keys = [(d_["resource"], d_["key"], d_["severity"]) for d_ in dr["deviations"]]
            dev = store["deviation"]
            c.eq("deviations", keys, [(dev["resource"], dev["key"], dev["severity"])])
            c.eq("open deviations", dr["open"], 1)
            c.eq("deviation defined", dr["deviations"][0]["defined"], True)
        else:
            called.add("compare-expected-vs-actual-state")
            text = await refused(s, "compare-expected-vs-actual-state", {})
            c.true("drift without a store says so", "no store" in text, text)

        # detect-infrastructure-anomalies
        an = await tool("detect-infrastructure-anomalies", {"window_hours": 48})
        kinds = {a["kind"] for a in an["anomalies"]}
        c.eq("anomalies read the store", an["store"], store is not None)
        if store:
            c.true("failed apply found", "failed-apply" in kinds, kinds)
            c.true("deviation found", "deviation" in kinds, kinds)
            c.eq("most severe first", an["anomalies"][0]["severity"], "critical")
        c.true("known kinds only", kinds <= {"deviation", "failed-apply", "failed-resource", "invalid-definition", "capacity", "gpu-exhausted"}, kinds)

        # validate-universal-definition
        name = x["new_gpu_resource"]
        doc = x["definitions"]["ollama-server"].replace("name: ollama-server", f"name: {name}")
        v = await tool("validate-universal-definition", {"definition": doc})
        c.eq("new GPU definition valid", v["valid"], True)
        c.eq("new GPU definition node", v["placement"]["nodes"], [x["free_gpu_node"]])
        bad = doc.replace("cpu: 4", 'cpu: "four"')
        v = await tool("validate-universal-definition", {"definition": bad})
        c.eq("bad definition invalid", v["valid"], False)
        c.true("bad field named", any(p["pointer"] == "/spec/requirements/cpu" for p in v["problems"]), v["problems"])

        # translate-universal-to-provider: the ollama definition as it is renders exactly
        # what `homelabd render` wrote for it.
        tr = await tool("translate-universal-to-provider", {"definition": x["definitions"]["ollama-server"]})
        c.eq("dry render output hash", tr["output_hash"], x["render_hashes"]["ollama-server"])
        c.eq("dry render directory", tr["directory"], "rendered-configs/proxmox/ollama-server/")
        main_tf = next(f for f in tr["files"] if f["path"] == "main.tf")
        c.true("main.tf has the GPU", x["placement_gpu"] in main_tf["content"], x["placement_gpu"])
        text = await refused(s, "translate-universal-to-provider", {"definition": bad})
        c.true("invalid translation refused", "/spec/requirements/cpu" in text, text)

        # analyze-resource-requirements
        a = await tool("analyze-resource-requirements", {"workload_type": "ai-inference"})
        c.eq("default tier", a["recommended_tier"], "standard")
        want = x["tiers"]["ai-inference"]
        c.eq("tiers", {t_["tier"]: [t_["cpu"], t_["memory_gb"], t_["storage_gb"]] for t_ in a["tiers"]}, want)
        c.eq("sized from the tier", [a["size"]["cpu"], a["size"]["memory_gb"]], want["standard"][:2])
        a = await tool("analyze-resource-requirements", {"workload_type": "ai-inference", "memory_gb": 20})
        c.eq("tier covering 20 GB", a["recommended_tier"], "high-performance")

        # find-optimal-placement
        for rname, p in x["placements"].items():
            fp = await tool("find-optimal-placement", {"resource": rname})
            got = fp["placement"]
            c.eq(f"placement of {rname}", (got["provider"], got["pool"], got["nodes"]), (p["provider"], p["pool"], p["nodes"]))
        fp = await tool("find-optimal-placement", {"definition": doc})
        c.eq("hypothetical GPU node", fp["placement"]["nodes"], [x["free_gpu_node"]])
        text = await refused(s, "find-optimal-placement", {"resource": "x", "definition": doc})
        c.true("exactly one input", "exactly one" in text, text)

        # find-best-provider-for-workload
        bp = await tool("find-best-provider-for-workload", {"workload_type": "ai-inference", "gpu": True})
        fits = [p["provider"] for p in bp["providers"] if p["fits"]]
        c.eq("providers with a free GPU", fits, x["gpu_providers"])
        c.eq("best provider", bp["best"]["provider"], x["gpu_providers"][0])

        # plan-migration-from-snapshot: the first commit → the head (jenkins changed tags)
        pm = await tool("plan-migration-from-snapshot", {"from": x["first"]})
        c.eq("migration endpoints", (pm["from_revision"], pm["to_revision"]), (x["first"], x["revision"]))
        c.eq("migration steps", [(st_["action"], st_["resource"]) for st_ in pm["steps"]], [("update", "jenkins")])
        c.eq("unchanged", pm["unchanged"], len(x["resources"]) - 1)
        text = await refused(s, "plan-migration-from-snapshot", {"from": "no-such-snapshot"})
        c.true("unknown snapshot", "neither a snapshot nor a revision" in text, text)

        # get-deployment-sop
        for wt, w in x["workload_types"].items():
            sop = await tool("get-deployment-sop", {"workload_type": wt})
            c.eq(f"SOP of {wt}", sop["sop"], w["sop"])
            c.eq(f"SOP origin of {wt}", sop["origin"], "workload-type")
        sop = await tool("get-deployment-sop", {"resource": "ollama-server"})
        c.eq("SOP resource nodes", sop["resource"]["nodes"], x["placements"]["ollama-server"]["nodes"])

        # get-resource-allocation-guidelines
        gl = await tool("get-resource-allocation-guidelines", {})
        c.eq("placeable pools", [p["path"] for p in gl["pools"]], sorted(x["placeable"]))
        c.true("guidelines given", len(gl["guidelines"]) >= 3, gl["guidelines"])

        # get-placement-strategy
        ps = await tool("get-placement-strategy", {})
        for w in ps["workload_types"]:
            want = x["workload_types"][w["workload_type"]]
            c.eq(f"strategy of {w['workload_type']}", (w["providers"], w["pools"], w["strategy"]), (want["providers"], want["pools"], want["strategy"]))

        c.eq("every query tool called", called, QUERY_TOOLS)

        # prompts
        prompts = await s.list_prompts()
        c.eq("prompts", sorted(p.name for p in prompts.prompts), ["cost-review", "deploy-gpu-service", "deploy-ha-web-app"])
        gp = await s.get_prompt("deploy-gpu-service", {"name": "vision"})
        c.true("GPU prompt states the free GPUs", x["gpu_prompt_line"] in gp.messages[0].content.text, gp.messages[0].content.text)
        cr = await s.get_prompt("cost-review", {})
        c.true("cost review lists the cloud resources", all(r in cr.messages[0].content.text for r in x["cloud_resources"]), cr.messages[0].content.text)

        # resources
        listed = await s.list_resources()
        uris = {str(r.uri) for r in listed.resources}
        for rname in x["resources"]:
            c.true(f"resource for {rname}", f"homelab://definitions/{rname}" in uris)
        sop = await s.read_resource("homelab://sop/ai-inference")
        c.eq("SOP resource", sop.contents[0].text, x["workload_types"]["ai-inference"]["sop"])
        definition = await s.read_resource("homelab://definitions/ollama-server")
        c.true("definition resource", "workload_type: ai-inference" in definition.contents[0].text)

    print(f"OK {c.count} checks")


asyncio.run(main())
