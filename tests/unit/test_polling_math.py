"""The normal distribution the poll schedule computes its quantiles with."""

from __future__ import annotations

import math

import pytest

from flux2.decisions._lognormal import by_precision, cdf, inverse_cdf


@pytest.mark.parametrize("p", [1e-6, 0.005, 0.02, 0.15, 0.5, 0.85, 0.995, 1 - 1e-6])
def test_the_inverse_undoes_the_distribution(p: float) -> None:
    assert cdf(inverse_cdf(p)) == pytest.approx(p, rel=1e-9)


def test_probabilities_past_either_end_are_clipped_to_finite_quantiles() -> None:
    assert -6.5 < inverse_cdf(0.0) < -5.9
    assert 5.9 < inverse_cdf(1.0) < 6.5


def test_two_estimates_are_taken_together_by_their_precision() -> None:
    assert by_precision(0.0, 1.0, 2.0, 1.0) == pytest.approx((1.0, math.sqrt(0.5)))
    assert by_precision(0.0, 3.0, 4.0, 1.0) == pytest.approx((1.0, 0.5))
    # An estimate of no weight says nothing.
    assert by_precision(5.0, 0.0, 2.0, 4.0) == pytest.approx((2.0, 0.5))
