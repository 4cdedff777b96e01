"""The live picture of the stations, from their MQTT telemetry."""
