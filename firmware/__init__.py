"""Device firmware: core services and one package per device type."""
