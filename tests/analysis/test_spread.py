"""Seeds of one cell as mean ± sample std, and the marking rule."""
import pytest

from mmdet_vit_transfer.analysis.spread import Spread, beyond_spread, spread


def test_mean_and_sample_std():
    # mean 50.2; deviations -0.2, 0.1, 0.1: variance 0.06 / 2 = 0.03.
    value = spread([50.0, 50.3, 50.3])
    assert value.mean == pytest.approx(50.2)
    assert value.std == pytest.approx(0.03**0.5)
    assert value.n == 3
    assert value.text() == '50.2 ± 0.2'
    assert spread([44.25]) == Spread(44.25, None, 1)
    assert spread([44.25]).text() == '44.2'
    assert spread([1.0, 3.0]).std == pytest.approx(2**0.5)  # not 1.0 (n)
    with pytest.raises(ValueError, match='no value'):
        spread([])


def test_a_difference_counts_beyond_the_sum_of_the_stds():
    a = spread([50.0, 50.2, 50.4])  # 50.2 ± 0.2
    b = spread([49.6, 49.7, 49.8])  # 49.7 ± 0.1
    c = spread([49.9, 50.0, 50.1])  # 50.0 ± 0.1
    assert beyond_spread(a, b) and beyond_spread(b, a)  # 0.5 > 0.3
    assert not beyond_spread(a, c)  # 0.2 is within 0.3
    # One run has no spread: never marked, however far.
    assert not beyond_spread(a, spread([40.0]))
    assert not beyond_spread(spread([60.0]), spread([40.0]))
