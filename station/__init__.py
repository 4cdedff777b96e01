"""The scanning station: capture, processing, output, sync, telemetry and the operator UI."""
