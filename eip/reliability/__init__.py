"""Reliability and security suite: fuzzing, faults, hostile participants and load (docs/reliability.md)."""
