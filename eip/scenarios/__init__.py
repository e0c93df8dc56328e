"""Scenarios: YAML files in scenarios/ that `eip run` turns into emulated experiments with a report."""
