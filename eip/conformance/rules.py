"""The numbered rules of docs/protocol.md, read from the spec itself, and the outcome of a test.

A rule is a bullet `- **Rn.m** text` (its continuation lines indented); its level is MUST when the
text says MUST (or MUST NOT), else SHOULD when it says SHOULD, else MAY. Tests name the rule they
check and quote its text from here, so the report always shows the spec's words.
"""

import re
from pathlib import Path
from typing import NamedTuple

from eip.errors import EipError

SPEC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
_BULLET = re.compile(r"^- \*\*(R\d+\.\d+)\*\* (.*)$")
_RULE_ID = re.compile(r"\bR(\d+)\.(\d+)\b")

PASS, FAIL, NON_STRICT, NOT_DECLARED, INFORMATIONAL = (
    "PASS", "FAIL", "NON-STRICT", "NOT-DECLARED", "INFORMATIONAL")  # fmt: skip
OUTCOMES = (PASS, FAIL, NON_STRICT, NOT_DECLARED, INFORMATIONAL)


class Rule(NamedTuple):
    rule_id: str  # "R5.8"
    section: int  # 5
    text: str  # the bullet's text, continuation lines joined
    level: str  # MUST, SHOULD or MAY


def load_rules(path: str | Path = SPEC) -> dict[str, Rule]:
    """rule id -> Rule, in the spec's order; EipError when the spec cannot be read."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise EipError(f"cannot read the protocol spec {path}: {exc.strerror or exc}") from None
    rules: dict[str, Rule] = {}
    current: list | None = None
    for line in [*lines, ""]:
        m = _BULLET.match(line)
        if m or not line.startswith("  ") or not line.strip():
            if current:
                rid, text = current[0], " ".join(current[1:])
                level = "MUST" if "MUST" in text else "SHOULD" if "SHOULD" in text else "MAY"
                rules[rid] = Rule(rid, int(rid[1:].split(".")[0]), text, level)
            current = [m.group(1), m.group(2).strip()] if m else None
        elif current is not None:
            current.append(line.strip())
    if not rules:
        raise EipError(f"{path}: no numbered rules (- **Rn.m** ...) found")
    return rules


def cited_rule(text: str) -> str | None:
    """The first rule id a message cites, e.g. 'does not verify (R5.2)' -> 'R5.2'."""
    m = _RULE_ID.search(text)
    return f"R{m.group(1)}.{m.group(2)}" if m else None


def sort_key(rule_id: str) -> tuple[int, int]:
    major, minor = rule_id[1:].split(".")
    return int(major), int(minor)
