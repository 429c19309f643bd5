"""What an operator sees of the gateway: Prometheus metrics and OpenTelemetry traces."""
