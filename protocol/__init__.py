"""Contracts shared by station and server: records, package format, MQTT topics, sync API.

Pure code: no threads, no sockets, no global state.
"""
