import numpy as np
import pytest

from mlcraft.models.forecast import BASELINES, PanelBaseline


def _fit(method, y, h=4, season=4):
    return PanelBaseline(method).fit([y], horizon=h, season=season).forecast([y], h)[0]


def test_each_baseline_against_its_definition():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    assert _fit("naive", y).tolist() == [8.0] * 4
    assert _fit("mean", y).tolist() == [4.5] * 4
    assert np.allclose(_fit("drift", y), [9.0, 10.0, 11.0, 12.0])
    assert _fit("seasonal_naive", y).tolist() == [5.0, 6.0, 7.0, 8.0]
    assert _fit("seasonal_window_average", y).tolist() == [3.0, 4.0, 5.0, 6.0]


def test_panel_shape_and_bad_method():
    hist = [np.arange(10.0), np.arange(5.0)]
    for method in BASELINES:
        out = PanelBaseline(method).fit(hist, horizon=3, season=2).forecast(hist, 3)
        assert out.shape == (2, 3) and np.isfinite(out).all()
    with pytest.raises(ValueError):
        PanelBaseline("nope").fit(hist, horizon=3, season=2)
