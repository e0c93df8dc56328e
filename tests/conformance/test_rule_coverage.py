"""Every numbered rule of docs/protocol.md has exactly one conformance test named after it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_each_rule_has_one_test_and_each_test_a_rule():
    spec = (ROOT / "docs" / "protocol.md").read_text()
    rules = set(re.findall(r"\*\*R(\d+)\.(\d+)\*\*", spec))
    tests = re.findall(
        r"^def test_r(\d+)_(\d+)_",
        "\n".join(p.read_text() for p in (ROOT / "tests" / "conformance").glob("test_s*.py")),
        flags=re.M,
    )
    assert len(rules) >= 40
    assert sorted(tests) == sorted(set(tests)), "a rule has more than one test"
    assert rules == set(tests), f"untested: {rules - set(tests)}; unknown: {set(tests) - rules}"
