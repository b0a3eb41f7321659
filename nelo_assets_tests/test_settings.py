"""Settings from the environment: the tick intervals, bronze's freshness window and the
one-line error for a bad value."""

from __future__ import annotations

import pytest

from nelo_assets.settings import (
    DEFAULT_AUTOMATION_INTERVAL_SECONDS,
    DEFAULT_FRESHNESS_HOURS,
    DEFAULT_SENSOR_INTERVAL_SECONDS,
    Settings,
    SettingsError,
)


def test_intervals_default_and_come_from_their_own_variables() -> None:
    defaults = Settings.from_env({})
    assert (defaults.sensor_interval_seconds, defaults.automation_interval_seconds) == (
        DEFAULT_SENSOR_INTERVAL_SECONDS,
        DEFAULT_AUTOMATION_INTERVAL_SECONDS,
    )
    settings = Settings.from_env(
        {"NELO_SENSOR_INTERVAL_SECONDS": "7", "NELO_AUTOMATION_INTERVAL_SECONDS": "45"}
    )
    assert (settings.sensor_interval_seconds, settings.automation_interval_seconds) == (7, 45)


@pytest.mark.parametrize(
    "name", ["NELO_SENSOR_INTERVAL_SECONDS", "NELO_AUTOMATION_INTERVAL_SECONDS"]
)
@pytest.mark.parametrize("value", ["0", "1.5", "soon"])
def test_a_bad_interval_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}='{value}' is not a whole number of seconds$"):
        Settings.from_env({name: value})


def test_the_freshness_window_comes_from_its_variable() -> None:
    assert Settings.from_env({}).freshness_hours == DEFAULT_FRESHNESS_HOURS
    assert Settings.from_env({"NELO_FRESHNESS_HOURS": "1.5"}).freshness_hours == 1.5


@pytest.mark.parametrize("value", ["0", "0.01", "soon"])
def test_a_bad_freshness_window_names_its_variable(value: str) -> None:
    # Dagster's freshness policies take a window of one minute or more.
    with pytest.raises(SettingsError, match=f"^NELO_FRESHNESS_HOURS='{value}' is not a number"):
        Settings.from_env({"NELO_FRESHNESS_HOURS": value})
