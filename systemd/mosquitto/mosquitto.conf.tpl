# sohoa MQTT broker, Mosquitto 2.0.
# Rendered by server/mqtt/broker.py (write_broker_files) from systemd/mosquitto/mosquitto.conf.tpl; the same
# template makes the production file and the one tests and the demo run. Do not edit the rendered copy.
# MQTT carries telemetry and notifications only: packages always travel over the sync API.

# One set of security settings for every listener.
per_listener_settings false
allow_anonymous false
password_file $password_file
acl_file $acl_file

# Retained state and QoS 1 sessions survive a broker restart.
persistence true
persistence_location $data_dir/
autosave_interval 60

# stderr goes to the journal under systemd, to mosquitto.log in tests.
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
log_timestamp true
connection_messages true

# Privileges dropped to this user when started as root.
user $run_user

# Bound what one slow client can cost the broker.
max_queued_messages 1000
max_inflight_messages 20
max_packet_size 65536

# One listener, bound to the address chosen in BrokerConfig.bind. No websockets listener: Mosquitto's
# websockets ignore the bind address and would listen on every interface.
listener $port $bind
protocol mqtt
# The client id is the username: a station cannot connect under another station's client id and so kick it
# off. A listener option: written before the listener line it would open a default listener on every address.
use_username_as_clientid true
$tls_block
