"""Shared pytest set-up: the integration tier needs root, and says so when it is skipped."""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(
        reason="integration test: needs root (network namespaces, Mininet, OVS)"
    )
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)
