"""Running the pipeline as a service: the local PostgreSQL cluster and the `make prod` launcher."""
