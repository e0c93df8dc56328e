"""`eip conformance`: checking an implementation of the protocol against docs/protocol.md, rule by rule.

- `rules`: the spec's numbered rules (text, MUST/SHOULD) and the test outcomes;
- `capture`: `--pcap FILE`, every message of a capture checked against the rules a capture can show;
- `report`: console summary per section, JSON, JUnit XML and markdown with the rule coverage.
"""
