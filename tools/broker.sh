#!/bin/sh
# Start the lab broker with conf/mosquitto.conf on 127.0.0.1:PORT, its state
# in DIR. Prints the broker's pid. Usage: tools/broker.sh PORT DIR
# With HUB_PLUGIN (the path of warden_hub.so) and HUB_KEYS (the key store) set,
# it is the lab hub: devices log in as on IoT Hub, nobody anonymously.
# HUB_HOSTNAME, HUB_FLUSH_MS, HUB_MAX_MESSAGE_BYTES and HUB_MAX_TOKEN_LIFETIME, when set,
# become the plugin's options of those names (README: the lab hub).
# HUB_PRELOAD is put in LD_PRELOAD (the sanitizer runtime of a sanitized plugin).
set -e
port=$1
dir=$2
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
# Started as root, Mosquitto drops to the mosquitto user: let it write its state.
if [ "$(id -u)" -eq 0 ] && id mosquitto > /dev/null 2>&1; then
    chown mosquitto "$dir"
fi
{
    if [ -n "${HUB_PLUGIN:-}" ]; then
        sed 's/^allow_anonymous true/allow_anonymous false/' "$here/conf/mosquitto.conf"
        echo "plugin $HUB_PLUGIN"
        echo "plugin_opt_keystore $HUB_KEYS"
        [ -n "${HUB_HOSTNAME:-}" ] && echo "plugin_opt_hostname $HUB_HOSTNAME"
        [ -n "${HUB_FLUSH_MS:-}" ] && echo "plugin_opt_flush_ms $HUB_FLUSH_MS"
        [ -n "${HUB_MAX_MESSAGE_BYTES:-}" ] && echo "plugin_opt_max_message_bytes $HUB_MAX_MESSAGE_BYTES"
        [ -n "${HUB_MAX_TOKEN_LIFETIME:-}" ] && echo "plugin_opt_max_token_lifetime $HUB_MAX_TOKEN_LIFETIME"
    else
        cat "$here/conf/mosquitto.conf"
    fi
    echo "listener $port 127.0.0.1"
    echo "persistence_location $dir/"
} > "$dir/mosquitto.conf"
LD_PRELOAD=${HUB_PRELOAD:-} mosquitto -c "$dir/mosquitto.conf" >> "$dir/mosquitto.log" 2>&1 &
echo $!
