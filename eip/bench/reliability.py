"""`eip bench reliability`: fuzzing, faults, hostile participants and load in one report.

Fuzzing runs anywhere (at least 1,000,000 packets unless --quick); faults, attacks and load need root
(Mininet, Open vSwitch) and are skipped, and said so, without it.
"""

import os
import tempfile
import time

from eip.bench import goal


def fuzz_part(total: int) -> dict:
    from eip.reliability import fuzz

    n_layers = max(1000, total * 3 // 100)
    n_card = max(1000, total * 17 // 100)
    n_codec = max(1000, total - n_layers - n_card)
    runs = [fuzz.fuzz_codec(n_codec).as_dict(), fuzz.fuzz_layers(n_layers).as_dict(),
            fuzz.fuzz_card(n_card).as_dict()]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="eip-fuzz-tshark-") as tmp:
        ts = fuzz.tshark_fuzz(tmp, n_frames=3000 if total >= 100_000 else 500)
    for r in runs:
        r.pop("first_findings", None) if not r["findings"] else None
    return {"runs": runs, "tshark": {k: v for k, v in ts.items() if k != "captures"} | {
        "captures": {k: {kk: vv for kk, vv in v.items() if kk != "stderr"}
                     for k, v in ts.get("captures", {}).items()}}}  # fmt: skip


def faults_part() -> dict:
    from eip.net.emulation import Emulation, default_limits
    from eip.net.plan import plan_from_topo
    from eip.reliability import faults
    from topologies.vpp_lans import VppLansTopo

    topo = VppLansTopo(2, 2)
    limits = default_limits(plan_from_topo(topo), period_s=10.0, quantum_bee=10)
    with tempfile.TemporaryDirectory(prefix="eip-faults-") as tmp, \
            Emulation(topo, tmp, limits=limits) as emu:  # fmt: skip
        reports = [
            faults.card_crash(emu, "v1c1", "v2c1", "v2c1", 100_000),
            faults.card_crash(emu, "v1c1", "v2c1", "v1c1", 100_000),
            faults.controller_crash(emu, "v1c2", "v2c2", 300_000),
            faults.wan_flap(emu, "v1c2", "v2c1", "vpp2", 200_000),
            faults.switch_detach(emu, "v1c1", "v2c2", total=200_000),
        ]
        final = faults.settled_books(emu)
    slim = []
    for r in reports:
        slim.append({k: v for k, v in r.items()
                     if k not in ("books", "flows_before", "flows_after", "flows_while_down",
                                  "flows_while_detached")}
                    | {"books_ok": r["books"]["ok"]})  # fmt: skip
    return {"faults_injected": 2 * len(reports), "faults": slim, "books": final}


def hostile_part() -> dict:
    from eip.net.emulation import Emulation, default_limits
    from eip.net.plan import plan_from_topo
    from eip.reliability import faults, hostile
    from topologies.vpp_lans import VppLansTopo

    topo = VppLansTopo(2, 2)
    quota = 300
    limits = default_limits(plan_from_topo(topo), period_s=4.0, quantum_bee=10)
    limits["cards"] = {"02:00:00:00:01:01": {"export_bee": quota, "import_bee": 1_000_000}}
    with tempfile.TemporaryDirectory(prefix="eip-hostile-") as tmp, \
            Emulation(topo, tmp, limits=limits) as emu:  # fmt: skip
        attacks = [hostile.spoof(emu, "v1c1", "v1c2", "v2c1", 50),
                   hostile.replay(emu, "v2c1", "v1c2", 3000),
                   hostile.forged(emu, "v2c1", "v1c2", 500),
                   hostile.policed_flood(emu, "v1c1", "v2c1", quota)]  # fmt: skip
        base = [hostile.honest_transfer(emu, "v2c2", "v1c2", 20_000) for _ in range(2)]
        flood = hostile.window_flood(emu, "v1c1", "v2c1", seconds=8, pps=400)
        syn = hostile.server_flood(emu, "v2c1", seconds=8)
        under = hostile.honest_transfer(emu, "v2c2", "v1c2", 20_000)
        attacks += [hostile.finish(flood), hostile.finish(syn)]
        status = emu.status()
        books = faults.settled_books(emu)
    for a in attacks:
        a.pop("receiver_counters", None)
    base_s = min(b["seconds"] for b in base)
    return {"attacks": attacks, "honest_alone_s": base_s, "honest_under_attack_s": under["seconds"],
            "honest_under_attack_done": under["reason"] == "done",
            "honest_slowdown_ratio": round(under["seconds"] / base_s, 2),
            "firewall_drops": sum(hostile.firewall_drops(status).values()),
            "sden": {k: v for k, v in status.get("sden", {}).items() if k != "server"},
            "books": books}  # fmt: skip


def run(fuzz_total: int = 1_000_000, quick: bool = False, sizes=(50, 100, 200),
        periods: int = 12) -> dict:  # fmt: skip
    from eip.reliability.load import load_size

    t0 = time.perf_counter()
    out: dict = {"benchmark": "reliability"}
    fz = fuzz_part(fuzz_total)
    runs = fz["runs"]
    out["packets_fuzzed"] = sum(r["packets"] for r in runs) + fz["tshark"].get("frames", 0)
    out["fuzz_findings"] = sum(r["findings"] for r in runs)
    for r in runs:
        out[f"fuzz_{r['target']}_pps"] = r["rate_pps"]
        out[f"fuzz_{r['target']}_max_us"] = r["max_us_per_packet"]
    out["fuzz_max_us_per_packet"] = max(r["max_us_per_packet"] for r in runs)
    out["fuzz_rss_growth_mib"] = round(sum(max(0, r["rss_growth_mib"]) for r in runs), 2)
    out["card_counters_consistent"] = all(r.get("counters_consistent", True) for r in runs)
    out["tshark_lua_errors"] = sum(
        c["lua_errors"] for c in fz["tshark"].get("captures", {}).values()
    )
    out["fuzz"] = fz
    lost = dup = checked = injected = 0
    overshoot = 0
    if os.geteuid() == 0:
        fa = faults_part()
        out["faults"] = fa
        injected += fa["faults_injected"]
        ho = hostile_part()
        out["hostile"] = ho
        injected += len(ho["attacks"])
        for b in (fa["books"], ho["books"]):
            lost += b.get("lost_bee", 0) + b.get("unacknowledged_bee", 0)
            dup += b.get("duplicates", 0)
            checked += b.get("transfers", 0)
        overshoot = max(a.get("overshoot_segments", 0) for a in ho["attacks"])
        out["honest_slowdown_ratio"] = ho["honest_slowdown_ratio"]
        loads = []
        for n in (10,) if quick else sizes:
            loads.append(load_size(n, periods=3 if quick else periods))
            lost += loads[-1]["lost_bee"]
            dup += loads[-1]["duplicates"]
            checked += loads[-1]["transfers"]
        out["load"] = loads
        met = [x["cards"] for x in loads if x["deadline_met"]]
        out["largest_cards_meeting_deadline"] = max(met, default=0)
        big = max(loads, key=lambda x: x["cards"])
        out["load_cards"] = big["cards"]
        out["load_bee_per_s"] = big["bee_per_s"]
        out["load_controller_cpu_percent"] = big["controller_cpu_percent"]
        out["load_controller_rss_mib"] = big["controller_rss_mib_peak"]
    else:
        out["skipped"] = "faults, attacks and load need root"
    out.update(faults_injected=injected, transfers_checked=checked, bee_lost=lost, duplicates=dup,
               limit_overshoot_segments=overshoot)  # fmt: skip
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["goals"] = {
        "bee_lost": goal(lost, 0, higher_is_better=False),
        "duplicates": goal(dup, 0, higher_is_better=False),
        "limit_overshoot_segments": goal(overshoot, 1, higher_is_better=False),
        "fuzz_findings": goal(out["fuzz_findings"], 0, higher_is_better=False),
        "fuzz_rss_growth_mib": goal(out["fuzz_rss_growth_mib"], 50, higher_is_better=False),
        "tshark_lua_errors": goal(out["tshark_lua_errors"], 0, higher_is_better=False),
    }
    if not quick:
        out["goals"]["packets_fuzzed"] = goal(out["packets_fuzzed"], 1_000_000)
    return out
