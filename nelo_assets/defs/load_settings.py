"""The one read of the environment that Dagster needs while loading the definitions.

Partitions (start date, time zone), sensor intervals and bronze's freshness window are part of
the graph itself, so they are read here, once, when the code location loads. Everything a run
or a tick needs at execution time is configuration of a resource (see resources.py).
"""

from nelo_assets.settings import Settings

SETTINGS = Settings.from_env()
