"""The broker bridge: the project's Mosquitto, its config, and its accounts kept equal to the records."""
