"""The defs tests' fixtures: a throwaway PostgreSQL cluster and a fresh database on it, for the
instance the parallel backfill runs against (nelo_assets_tests/postgres.py)."""

from nelo_assets_tests.postgres import postgres_cluster, postgres_env  # noqa: F401 (fixtures)
