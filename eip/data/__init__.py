"""Reference data the scenarios compare against, shipped with eip (copies of shared/reference/).

blueprint_fig10.csv: seed 000 Fig. 10; thesis_bills.csv: seed 002 Table 5.3; ausgrid_average_profile.csv:
seed 002 Table 3.4. Each file's header comment says where its numbers come from.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent


def reference(name: str) -> Path:
    """Path of a shipped reference file, e.g. reference("thesis_bills.csv")."""
    return DATA_DIR / name
