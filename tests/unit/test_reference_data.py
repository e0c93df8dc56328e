"""The reference data shipped in eip/data is the project's shared/reference, unchanged."""

from pathlib import Path

import pytest

from eip.data import DATA_DIR

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
NAMES = ("blueprint_fig10.csv", "thesis_bills.csv", "ausgrid_average_profile.csv")


@pytest.mark.parametrize("name", NAMES)
def test_shipped_reference_is_present_and_has_rows(name):
    lines = [
        ln for ln in (DATA_DIR / name).read_text().splitlines() if ln and not ln.startswith("#")
    ]
    assert len(lines) > 10  # a header and the data rows


@pytest.mark.skipif(not SHARED.is_dir(), reason="no shared/ beside this checkout")
@pytest.mark.parametrize("name", NAMES)
def test_shipped_reference_equals_shared(name):
    assert (DATA_DIR / name).read_bytes() == (SHARED / name).read_bytes()
