"""The paho MQTT client as the station's telemetry and the server's monitor both make it."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def new_client(client_id: str, *, username: str, password: str, tls_ca: str | None = None) -> mqtt.Client:
    """A clean-session client that logs in with its account, speaks TLS when given the broker's CA, and
    reconnects by itself every 1–10 s (the broker may be down when a service starts, or restart under it)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.username_pw_set(username, password)
    if tls_ca:
        client.tls_set(ca_certs=tls_ca)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client
