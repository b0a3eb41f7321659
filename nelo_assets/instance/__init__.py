"""Dagster instance parts named in dagster.yaml or run against an instance (the run launcher,
run retention). Dagster-side like defs/, but outside the autoloaded definitions."""
