"""Service layer: the use cases, each one a unit of work around the domain."""
