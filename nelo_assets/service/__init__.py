"""Running the pipeline as a service: the `make demo` and `make prod` launchers, the local
PostgreSQL cluster and the supervision of their processes. The top floor: it may import defs."""
