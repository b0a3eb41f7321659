"""The seeded app-traffic simulator behind `nelo-simulate` (public API in `nelo_assets.simulation.cli`)."""
