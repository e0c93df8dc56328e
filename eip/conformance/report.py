"""The conformance reports: a console summary per spec section, JSON, JUnit XML and markdown.

Every result names its rule; the report quotes the rule's text and level from docs/protocol.md and
lists, per rule, the tests that cover it, so the rules without a test show as such.
"""

import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from eip.conformance.rules import FAIL, NON_STRICT, OUTCOMES, PASS, sort_key


def apply_levels(results: list[dict], rules: dict, strict: bool = False) -> list[dict]:
    """Each result with its rule's text and level; a failure of a SHOULD is NON-STRICT unless
    `strict`. A result naming a rule the spec lacks is an error of the suite (KeyError)."""
    out = []
    for r in results:
        rule = rules[r["rule"]]
        outcome = r["outcome"]
        if outcome == FAIL and rule.level != "MUST" and not strict:
            outcome = NON_STRICT
        out.append({**r, "outcome": outcome, "level": rule.level, "rule_text": rule.text})
    return out


def counts(results: list[dict]) -> dict:
    n = {o: 0 for o in OUTCOMES}
    for r in results:
        n[r["outcome"]] += 1
    return n


def console(results: list[dict], source: str) -> str:
    """One line per test, grouped by spec section, then the totals."""
    by_section = defaultdict(list)
    for r in results:
        by_section[sort_key(r["rule"])[0]].append(r)
    lines = [f"conformance of {source}"]
    for section in sorted(by_section):
        lines.append(f"section {section}:")
        for r in sorted(by_section[section], key=lambda x: (sort_key(x["rule"]), x["test_id"])):
            what = r["detail"] or f"{r['checked']} checked"
            lines.append(
                f"  {r['outcome']:<13} {r['rule']:<6} {r['test_id']}: {r['title']} ({what})"
            )
            for f in r["failures"][:5]:
                frame = f"frame {f['frame']}: " if f["frame"] else ""
                lines.append(f"      {frame}{f['problem']} [{f['rule']}]")
            if len(r["failures"]) > 5:
                lines.append(f"      ... {len(r['failures']) - 5} more")
    n = counts(results)
    lines.append("total: " + ", ".join(f"{k} {v}" for k, v in n.items() if v))
    return "\n".join(lines)


def to_json(results: list[dict], source: str, rules: dict) -> str:
    return json.dumps({"source": source, "counts": counts(results), "results": results,
                       "coverage": coverage(results, rules)}, indent=2)  # fmt: skip


def to_junit(results: list[dict], source: str) -> str:
    """JUnit XML: one testsuite per spec section, one testcase per test."""
    root = ET.Element("testsuites", name=f"eip conformance {source}")
    by_section = defaultdict(list)
    for r in results:
        by_section[sort_key(r["rule"])[0]].append(r)
    for section in sorted(by_section):
        rs = by_section[section]
        suite = ET.SubElement(root, "testsuite", name=f"section {section}", tests=str(len(rs)),
                              failures=str(sum(r["outcome"] == FAIL for r in rs)),
                              skipped=str(sum(r["outcome"] not in (PASS, FAIL) for r in rs)))  # fmt: skip
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname=r["rule"], name=r["test_id"])
            text = "\n".join(f"frame {f['frame']}: {f['problem']} [{f['rule']}]"
                             for f in r["failures"])  # fmt: skip
            if r["outcome"] == FAIL:
                ET.SubElement(case, "failure", message=r["title"]).text = text
            elif r["outcome"] != PASS:
                ET.SubElement(case, "skipped", message=f"{r['outcome']}: {r['detail'] or text}")
    return ET.tostring(root, encoding="unicode")


def coverage(results: list[dict], rules: dict) -> list[dict]:
    """Per rule of the spec: its level and the tests that cover it (none: no test yet)."""
    tests = defaultdict(list)
    for r in results:
        tests[r["rule"]].append(r["test_id"])
    return [{"rule": rid, "level": rule.level, "tests": tests.get(rid, [])}
            for rid, rule in sorted(rules.items(), key=lambda kv: sort_key(kv[0]))]  # fmt: skip


def to_markdown(results: list[dict], source: str, rules: dict) -> str:
    n = counts(results)
    out = [f"# Conformance of `{source}`", "",
           ", ".join(f"{k} {v}" for k, v in n.items() if v), "",
           "| outcome | rule | level | test | checks | checked | pcap |",
           "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in sorted(results, key=lambda x: (sort_key(x["rule"]), x["test_id"])):
        out.append(f"| {r['outcome']} | {r['rule']} | {r['level']} | `{r['test_id']}` | "
                   f"{r['title']} | {r['detail'] or r['checked']} | {r.get('pcap', '-')} |")  # fmt: skip
    for r in results:
        if r["failures"]:
            out += ["", f"## {r['test_id']} ({r['rule']}, {r['outcome']})", "",
                    f"> {r['rule_text']}", ""]  # fmt: skip
            out += [
                f"- frame {f['frame']}: {f['problem']} [{f['rule']}]" for f in r["failures"][:50]
            ]
    cov = coverage(results, rules)
    out += ["", "## Rule coverage", "", f"{sum(bool(c['tests']) for c in cov)} of {len(cov)} rules "
            "have a test in this suite; the others are checked only by eip's own unit and "
            "conformance tests (tests/conformance/) or not yet.", "",
            "| rule | level | tests |", "|---|---|---|"]  # fmt: skip
    out += [f"| {c['rule']} | {c['level']} | {', '.join(c['tests']) or '-'} |" for c in cov]
    return "\n".join(out) + "\n"


def write(path: str | Path, text: str) -> None:
    Path(path).write_text(text)
