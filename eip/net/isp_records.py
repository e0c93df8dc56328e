"""What the Energy ISP published and the switches measured, period by period, as plain data.

The controller app appends one JSON line per event to `isp-records.jsonl` (eip.isp.isp records):
`clock` (the period clock restarted: the run's first period begins), `published` (a period's static
limits per card and VPP uplink, LMPs per bus, line loadings, OPF method) and `measured` (the BEE each
card's switch counted in the period that just ended). `summarize` turns them, with the controller's
last status for the period still running at the end, into the run's per-period table keyed by card
name. Records from before the last clock start (the network coming up) are left out.
"""


def _limits_by_name(cards: dict, names: dict) -> dict:
    return {
        names.get(mac, mac): {"export_bee": v["export_bee"], "import_bee": v["import_bee"]}
        for mac, v in sorted(cards.items())
    }


def _published(r: dict, names: dict) -> dict:
    return {
        "method": r.get("method"),
        "fail_safe": r.get("fail_safe"),
        "limits_bee": _limits_by_name(r.get("cards", {}), names),
        "vpp_export_bee": dict(r.get("vpps", {})),
        "lmp_cny_per_kwh": dict(r.get("lmp_cny_per_kwh", {})),
        "line_loading_percent": dict(r.get("line_loading_percent", {})),
        "losses_kw": r.get("losses_kw"),
        "fees_cny": {
            names.get(m, m): v
            for m, v in sorted(((r.get("fees") or {}).get("by_card_cny") or {}).items())
        },
        "bills": {names.get(m, m): v for m, v in sorted((r.get("bills") or {}).items())},
    }


def _measured(r: dict, names: dict) -> dict:
    exported, imported = r.get("exported_bee", {}), r.get("imported_bee", {})
    return {
        "source": "switch counters at the period boundary",
        "elapsed_s": r.get("elapsed_s"),
        "cards": {
            names.get(mac, mac): {
                "exported_bee": int(exported.get(mac, 0)),
                "imported_bee": int(imported.get(mac, 0)),
            }
            for mac in sorted(set(exported) | set(imported))
        },
    }


def summarize(records: list[dict], status: dict, names: dict, first_period: int) -> list[dict]:
    """[{period, published, measured}] in clock order. `names`: MAC (lower case) -> card name;
    `status`: the controller's last status (its per-card counters measure the last period)."""
    clocks = [i for i, r in enumerate(records) if r.get("kind") == "clock"]
    start = clocks[-1] + 1 if clocks else 0
    before, after = records[:start], records[start:]
    rows: dict[int, dict] = {}

    def row(period: int) -> dict:
        return rows.setdefault(period, {"period": period, "published": None, "measured": None})

    if not any(r.get("kind") == "published" and r.get("period") == first_period for r in after):
        # no boundary at the clock start: the first period's limits were published before it
        earlier = [r for r in before if r.get("kind") == "published"]
        if earlier and earlier[-1].get("period") == first_period:
            row(first_period)["published"] = _published(earlier[-1], names)
    seen_published = False
    for r in after:
        kind, period = r.get("kind"), r.get("period")
        if kind == "published":
            seen_published = True
            row(period)["published"] = _published(r, names)
        elif kind == "measured":
            if not seen_published and period != first_period:
                continue  # the period running while the network came up
            row(period)["measured"] = _measured(r, names)
    last = (status.get("isp") or {}).get("period")
    if last in rows and rows[last]["measured"] is None:
        cards = status.get("cards", {})
        rows[last]["measured"] = {
            "source": "controller status at the end of the run (the period was still running)",
            "elapsed_s": None,
            "cards": {
                name: {
                    "exported_bee": int(c.get("used_bee", 0)),
                    "imported_bee": int(c.get("import_used_bee", 0)),
                }
                for name, c in sorted(cards.items())
            },
        }
    return [rows[p] for p in rows]
