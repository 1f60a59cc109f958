"""Capacity forecast on hand-made series: crossing dates, model branches, intervals, backtest."""

import warnings
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from apps.costs.forecast import SeriesError, backtest, forecast, regularize

START = pd.Timestamp("2024-03-01")


def hourly(values: np.ndarray, start: pd.Timestamp = START) -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="h"))


def trend_and_day(t: np.ndarray) -> np.ndarray:
    """CPU millicores: +10m an hour and a daily swing of ±100m."""
    return 500 + 10 * t + 100 * np.sin(2 * np.pi * t / 24)


def noisy(n: int, seed: int = 3, sd: float = 10.0) -> pd.Series:
    t = np.arange(n)
    return hourly(trend_and_day(t) + np.random.default_rng(seed).normal(0, sd, n))


def test_it_finds_the_capacity_crossing_of_a_daily_cycle_with_a_trend() -> None:
    capacity = 4140.0
    result = forecast(noisy(240), capacity)

    future = np.arange(240, 240 + 336)
    truth = START + pd.Timedelta(hours=int(future[np.argmax(trend_and_day(future) >= capacity)]))
    assert truth == pd.Timestamp("2024-03-16 02:00")
    assert result.ok
    assert result.model == "Holt-Winters, additive trend, daily seasonality"
    assert abs(result.crosses_at - truth) <= pd.Timedelta(hours=3)
    assert result.upper_95_crosses_at < result.crosses_at
    assert 8 < result.residual_std < 16
    assert result.converged
    assert len(result.timestamps) == 336
    assert result.timestamps[0] == START + pd.Timedelta(hours=240)


def test_it_uses_weekly_seasonality_from_two_full_weeks() -> None:
    result = forecast(noisy(336), 1e9)

    assert result.model == "Holt-Winters, additive trend, weekly seasonality"
    assert result.crosses_at is None
    assert result.upper_95_crosses_at is None
    assert "stays below capacity for the next 14 d" in result.message


def test_it_falls_back_to_trend_only_below_two_days() -> None:
    t = np.arange(30)
    result = forecast(hourly(100 + 5 * t + np.random.default_rng(1).normal(0, 1, 30)), 400.0)

    assert result.ok
    assert result.model.startswith("Holt, additive trend")
    assert result.model.endswith("no seasonality")
    # 100 + 5t reaches 400 at t = 60: 31 h after the last point (t = 29).
    assert abs(result.crosses_at - (START + pd.Timedelta(hours=60))) <= pd.Timedelta(hours=2)


def test_it_says_how_much_more_history_is_needed() -> None:
    result = forecast(hourly(np.arange(8.0)), 100.0)

    assert not result.ok
    assert result.model == "none"
    assert result.more_history_needed == pd.Timedelta(hours=4)
    assert "8 points" in result.message
    assert "4 more 1 h points (4 h) needed" in result.message
    assert len(result.mean) == 0
    assert result.crosses_at is None


def test_it_keeps_intervals_non_negative() -> None:
    t = np.arange(120)
    falling = 40 - 0.3 * t + 5 * np.sin(2 * np.pi * t / 24)
    result = forecast(hourly(falling + np.random.default_rng(5).normal(0, 3, 120)), 100.0)

    for band in (result.mean, result.lower_80, result.lower_95, result.upper_80, result.upper_95):
        assert (band >= 0).all()
    assert (result.lower_95 <= result.lower_80).all()
    assert (result.upper_80 <= result.upper_95).all()
    assert (result.lower_95 == 0).any()


def test_it_widens_the_intervals_with_the_horizon() -> None:
    result = forecast(noisy(240), 1e9)

    for lower, upper in ((result.lower_80, result.upper_80), (result.lower_95, result.upper_95)):
        assert (np.diff(upper - result.mean) >= -1e-9).all()
        assert (np.diff(result.mean - lower) >= -1e-9).all()
    width = result.upper_95 - result.lower_95
    assert width[-1] > 3 * width[0]


def test_it_gives_the_same_intervals_for_the_same_series() -> None:
    first, second = forecast(noisy(100), 5000.0), forecast(noisy(100), 5000.0)

    assert np.array_equal(first.upper_95, second.upper_95)


def test_it_backtests_a_clean_seasonal_series() -> None:
    t = np.arange(14 * 24)
    series = hourly(
        600 + 150 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(11).normal(0, 15, t.size)
    )

    result = backtest(series)

    assert result.train_points == 269
    assert result.test_points == 67
    assert result.model.endswith("daily seasonality")
    assert result.coverage_95 >= 0.8
    assert result.coverage_80 <= result.coverage_95
    assert result.mae < 30
    assert 0 < result.mape_pct < 5


def test_it_refuses_to_backtest_too_little_history() -> None:
    with pytest.raises(SeriesError, match="not enough history"):
        backtest(hourly(np.arange(10.0)))


def test_it_says_an_irregular_series_was_averaged_into_buckets() -> None:
    jitter = np.random.default_rng(2).uniform(-20, 20, 100)
    stamps = START + pd.to_timedelta(np.arange(100) * 60 + jitter, unit="min")
    series = pd.Series(trend_and_day(np.arange(100.0)), index=stamps)

    result = forecast(series, 1e9)

    assert result.ok
    assert result.notes[0].startswith("irregular timestamps (up to ")
    assert result.notes[0].endswith("grid): averaged into 1 h buckets")


def test_it_refuses_a_series_with_a_long_gap() -> None:
    series = noisy(200).drop(noisy(200).index[100:110])

    result = forecast(series, 1e9)

    assert not result.ok
    assert result.message.startswith("gap of 10 h (10 missing points) from 2024-03-05 04:00:00")
    with pytest.raises(SeriesError, match="only gaps up to 6 points are filled"):
        regularize(series)


def test_it_fills_short_gaps_by_interpolation() -> None:
    series = hourly(np.arange(48.0)).drop(hourly(np.arange(48.0)).index[[5, 20, 21, 22]])

    regular = regularize(series)

    assert len(regular.series) == 48
    assert regular.series.iloc[21] == 21.0
    assert regular.step == pd.Timedelta(hours=1)
    assert regular.notes == ("filled 4 missing points (longest gap 3 h) by linear interpolation",)


def test_it_reports_non_convergence_without_the_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ExponentialSmoothing.fit

    def fit_with_warning(self: ExponentialSmoothing, *args: object, **kwargs: object) -> object:
        warnings.warn("Optimization failed to converge", ConvergenceWarning, stacklevel=2)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ExponentialSmoothing, "fit", fit_with_warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = forecast(noisy(60), 5000.0)

    assert result.ok
    assert not result.converged
    assert "the optimiser did not converge" in result.notes


def test_it_forecasts_a_flat_series_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = forecast(hourly(np.zeros(72)), 10.0, horizon=timedelta(days=2))

    assert result.ok
    assert len(result.mean) == 48
    assert result.residual_std == 0
    assert result.upper_95.max() == 0
