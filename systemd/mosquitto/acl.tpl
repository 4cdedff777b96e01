# sohoa broker ACL, rendered by server/mqtt/broker.py from systemd/mosquitto/acl.tpl.
# Usernames of stations are station ids ([a-z0-9-]{1,32}); %u below is the connecting username.

# The server account reads every station's telemetry and writes the server's notifications.
user $server_user
topic read $root/station/#
topic readwrite $root/server/#

# Every station: its own subtree only, and the server's messages addressed to it.
pattern readwrite $root/station/%u/#
pattern read $root/server/+/%u
