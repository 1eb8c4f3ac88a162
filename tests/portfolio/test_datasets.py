"""Bundled and synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kamsim.portfolio.datasets import (
    SAMPLE_N_ACCOUNTS,
    SAMPLE_SEED,
    SAMPLE_TOP_SHARE,
    load_sample,
    synthetic_portfolio,
)
from tests.conftest import DATA


def test_sample_file_matches_the_generator():
    generated = synthetic_portfolio(SAMPLE_N_ACCOUNTS, top_share=SAMPLE_TOP_SHARE,
                                    rng=SAMPLE_SEED).to_frame().drop(columns="gross_profit")
    on_disk = pd.read_csv(DATA / "sample_accounts.csv", dtype={"account_id": str})
    pd.testing.assert_frame_equal(generated.reset_index(drop=True), on_disk,
                                  check_dtype=False, check_exact=False, rtol=1e-12)


def test_sample_is_as_documented(sample):
    assert sample.n_accounts == 300
    assert sample.revenue.max() / sample.total_revenue == pytest.approx(0.18, abs=1e-6)
    assert load_sample() == sample


def test_synthetic_is_reproducible_and_seed_dependent():
    a = synthetic_portfolio(300, rng=3)
    assert a == synthetic_portfolio(300, rng=3)
    assert a != synthetic_portfolio(300, rng=4)
    g = np.random.default_rng(3)
    assert synthetic_portfolio(300, rng=g) == synthetic_portfolio(300, rng=3)


@pytest.mark.parametrize("share", [0.05, 0.18, 0.5])
def test_synthetic_top_share(share):
    pf = synthetic_portfolio(400, top_share=share, rng=0)
    assert pf.revenue.max() / pf.total_revenue == pytest.approx(share, abs=1e-5)
    key = np.argsort(-pf.revenue)[:8]
    assert pf.column("churn_prob")[key].mean() < pf.column("churn_prob").mean()


def test_synthetic_rejects_bad_arguments():
    with pytest.raises(ValueError, match="too small"):
        synthetic_portfolio(300, top_share=0.003, rng=0)
    with pytest.raises(ValueError, match="n_accounts must be >= 2"):
        synthetic_portfolio(1)
