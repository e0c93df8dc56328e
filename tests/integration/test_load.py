"""Load, small: every card of vpp_lans(2, 5) trades with a random peer in each of 4 periods.

The big one (up to 200 cards, searching the largest size that meets the period deadline) is in
`eip bench reliability`.
"""

import pytest

from eip.reliability.load import load_size

pytestmark = pytest.mark.integration


def test_every_card_trades_every_period_with_exact_books():
    report = load_size(10, periods=4, period_s=5.0, quantity=1000)
    print(report)
    assert report["cards"] == 10 and report["transfers"] == 40
    assert report["transfers_failed"] == 0, report
    assert report["bee_delivered"] == 40 * 1000
    assert report["books_ok"] and report["lost_bee"] == 0 and report["duplicates"] == 0, report
    assert report["deadline_met"], report
    assert report["controller_rss_mib_peak"] > 0
