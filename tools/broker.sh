#!/bin/sh
# Start the lab broker with conf/mosquitto.conf on 127.0.0.1:PORT, its state
# in DIR. Prints the broker's pid. Usage: tools/broker.sh PORT DIR
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
    cat "$here/conf/mosquitto.conf"
    echo "listener $port 127.0.0.1"
    echo "persistence_location $dir/"
} > "$dir/mosquitto.conf"
mosquitto -c "$dir/mosquitto.conf" >> "$dir/mosquitto.log" 2>&1 &
echo $!
