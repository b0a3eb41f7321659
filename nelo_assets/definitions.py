"""The code location: every definition under defs/, found by Dagster's autoloader."""

import warnings
from pathlib import Path

from dagster import BetaWarning, load_from_defs_folder

# Dagster 1.13 rebuilds each sensor that targets a job when it binds resources, and passes the
# beta `owners` parameter even when it is unset: one BetaWarning per sensor and process about a
# parameter this project never sets. Only that message is silenced; any other beta use still
# warns.
warnings.filterwarnings(
    "ignore",
    message=r"Parameter `owners` of initializer `SensorDefinition.__init__` is currently in beta",
    category=BetaWarning,
)

defs = load_from_defs_folder(path_within_project=Path(__file__).parent)
