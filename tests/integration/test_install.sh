#!/bin/bash
# `make install` as a lab server gets it (README "Install on a lab server"),
# into a DESTDIR: every file in place with its prefix filled in; the systemd
# units accepted by `systemd-analyze verify` against that tree (and a unit with
# a typo or a missing binary refused, so the check can fail), warden.service
# also with the example drop-in for an existing Alertmanager (and with its
# commented variant for one behind a proxy), whose settings Warden takes; the sysusers.d
# entry makes the warden user, in group mosquitto; /etc/warden/warden.json is
# a valid configuration, and a second install keeps an edited one; the
# Mosquitto drop-in, under a main configuration shaped like Debian's, loads the
# installed plugin with the key store, which admits a device and Warden's
# service login and refuses anonymous clients; `make uninstall` leaves only
# the configuration.
. "$(dirname "$0")/lib.sh"
B=${B:-build}
R="$T/root"
UNITS=(warden.service warden-hub-tls.service)

# A make of our own, not a job of the `make test` this may run under.
mk() { env -u MAKEFLAGS -u MFLAGS make -s --no-print-directory B="$B" PREFIX=/usr DESTDIR="$R" "$@"; }

mk install > "$T/install.log" 2>&1
check install-exits-0 "$?" 0
missing=""
for f in usr/bin/warden usr/lib/warden/warden_hub.so usr/lib/systemd/system/warden.service \
    usr/lib/systemd/system/warden-hub-tls.service usr/lib/sysusers.d/warden.conf \
    etc/warden/warden.json etc/mosquitto/conf.d/warden-hub.conf usr/share/warden/conf/mosquitto.conf \
    usr/share/warden/etc/warden.json usr/share/warden/etc/warden-hub.conf usr/share/doc/warden/README.md \
    usr/share/warden/conf/alertmanager.yml usr/share/warden/examples/warden.service.d/alertmanager.conf; do
    [ -f "$R/$f" ] || missing="$missing $f"
done
check install-puts-every-file "$missing" ""
left=$(grep -l '@[A-Z]*@' -r "$R/etc" "$R/usr/lib/systemd" "$R/usr/share/warden/etc" "$R/usr/share/warden/examples" 2> /dev/null)
check install-fills-every-placeholder "$left" ""
check install-unit-runs-the-installed-binary \
    "$(grep '^ExecStart=' "$R/usr/lib/systemd/system/warden.service")" \
    "ExecStart=/usr/bin/warden --config /etc/warden/warden.json run"
check install-dropin-loads-the-installed-plugin \
    "$(grep -c -x -e 'plugin /usr/lib/warden/warden_hub.so' -e 'plugin_opt_keystore /var/lib/warden/warden-hub.keys' \
        -e 'listener 1883 127.0.0.1' -e 'allow_anonymous false' "$R/etc/mosquitto/conf.d/warden-hub.conf")" 4

# ---- systemd-analyze verify, in the installed tree ----------------------------------------
# --root resolves the units' paths (ExecStart=/usr/bin/warden) inside the tree.
# A service's default dependencies must be found there too: the host's targets
# are copied into a copy of the tree. verify exits 0 on a mere unknown key, so
# anything it says is a failure.
V="$T/vroot"
cp -a "$R" "$V"
mkdir -p "$V/etc/systemd/system"
for u in sysinit.target basic.target shutdown.target multi-user.target; do
    cp "/lib/systemd/system/$u" "$V/etc/systemd/system/" || fail "host-has-$u"
done
verify() { # verify UNIT: prints what systemd-analyze said, nothing when it accepts the unit
    local out
    out=$(systemd-analyze verify --root="$V" "/usr/lib/systemd/system/$1" 2>&1) || out="exit $?: $out"
    echo "$out"
}
for u in "${UNITS[@]}"; do
    check "systemd-analyze-verify-accepts-$u" "$(verify "$u")" ""
done
sed 's/^NoNewPrivileges=/NoNewPrivilegs=/' "$V/usr/lib/systemd/system/warden.service" \
    > "$V/usr/lib/systemd/system/typo.service"
[ -n "$(verify typo.service)" ] && pass systemd-analyze-verify-refuses-a-typo ||
    fail systemd-analyze-verify-refuses-a-typo
sed 's|^ExecStart=/usr/bin/warden|ExecStart=/usr/bin/wardne|' "$V/usr/lib/systemd/system/warden.service" \
    > "$V/usr/lib/systemd/system/nobinary.service"
[ -n "$(verify nobinary.service)" ] && pass systemd-analyze-verify-refuses-a-missing-binary ||
    fail systemd-analyze-verify-refuses-a-missing-binary

# The example drop-in for an existing Alertmanager, where `systemctl edit` puts
# one: the unit with it is accepted; without its empty ExecStart= (which clears
# the unit's own) it is refused, so verify does read it; the commented variant
# for an Alertmanager behind a proxy (LoadCredential= and its ExecStart instead
# of the first) is accepted too.
EX="$R/usr/share/warden/examples/warden.service.d/alertmanager.conf"
DROPIN="$V/etc/systemd/system/warden.service.d/alertmanager.conf"
mkdir -p "${DROPIN%/*}"
cp "$EX" "$DROPIN"
check systemd-analyze-verify-accepts-warden.service-with-the-alertmanager-dropin "$(verify warden.service)" ""
sed '/^ExecStart=$/d' "$EX" > "$DROPIN"
[ -n "$(verify warden.service)" ] && pass systemd-analyze-verify-reads-the-alertmanager-dropin ||
    fail systemd-analyze-verify-reads-the-alertmanager-dropin "accepted two ExecStart="
sed -e '/^ExecStart=\//d' -e 's/^#\(LoadCredential=\|ExecStart=\)/\1/' "$EX" > "$DROPIN"
check systemd-analyze-verify-accepts-the-dropins-proxy-variant "$(verify warden.service)" ""
rm -r "${DROPIN%/*}"
# Each of its command lines is the unit's own plus settings Warden takes
# (`warden config` exits 2 on an unknown one); the first names Alertmanagers.
unit_exec=$(sed -n 's/^ExecStart=//p' "$R/usr/lib/systemd/system/warden.service")
n=0 args=()
while IFS= read -r line; do
    n=$((n + 1))
    eval "args=($line)" # systemd's quoting, as the shell's for what the example holds
    check "alertmanager-dropin-command-$n-is-the-units" "${args[*]:0:4}" "$unit_exec"
    "$R/usr/bin/warden" --config "$R/usr/share/warden/etc/warden.json" config "${args[@]:4}" > "$T/dropin-$n.txt" 2>&1
    check "alertmanager-dropin-command-$n-settings-are-valid" "$?" 0
done < <(sed -n 's/^#\{0,1\}ExecStart=\(.\)/\1/p' "$EX")
check alertmanager-dropin-has-two-commands "$n" 2
check alertmanager-dropin-names-alertmanagers "$(grep '^notify.alertmanager.urls' "$T/dropin-1.txt")" \
    "notify.alertmanager.urls = [http://alertmanager-1.lab.example:9093/,http://alertmanager-2.lab.example:9093/]"

# systemd's own review of the sandbox: "OK" is an exposure below 2.0 (of 10).
for u in "${UNITS[@]}"; do
    systemd-analyze security --offline=yes --root="$V" --threshold=19 "/usr/lib/systemd/system/$u" \
        > "$T/security-$u.txt" 2>&1 && pass "systemd-security-exposure-below-2-$u" ||
        fail "systemd-security-exposure-below-2-$u" "$(grep -a Overall "$T/security-$u.txt")"
done

# ---- the warden user ------------------------------------------------------------------------
mkdir -p "$T/sysroot/etc"
systemd-sysusers --root="$T/sysroot" "$R/usr/lib/sysusers.d/warden.conf" > "$T/sysusers.log" 2>&1
check sysusers-exits-0 "$?" 0
check sysusers-makes-the-warden-user "$(cut -d: -f1,6,7 "$T/sysroot/etc/passwd" 2> /dev/null | grep '^warden:')" \
    "warden:/var/lib/warden:/usr/sbin/nologin"
check sysusers-puts-warden-in-group-mosquitto "$(grep -c '^mosquitto:.*:warden$' "$T/sysroot/etc/group")" 1

# ---- the configuration ----------------------------------------------------------------------
CONF="$R/etc/warden/warden.json"
"$R/usr/bin/warden" config --config "$CONF" > "$T/config.txt" 2>&1
check config-is-valid "$?" 0
check config-database-in-the-state-directory "$(grep '^db.path' "$T/config.txt")" 'db.path = "/var/lib/warden/warden.db"'
echo '{"db": {"path": "/srv/lab/warden.db"}}' > "$CONF"
mk install > "$T/install2.log" 2>&1
check install-again-keeps-the-configuration "$(cat "$CONF")" '{"db": {"path": "/srv/lab/warden.db"}}'
grep -q "kept $CONF" "$T/install2.log" && pass install-again-says-it-kept-it ||
    fail install-again-says-it-kept-it "$(cat "$T/install2.log")"
cp "$R/usr/share/warden/etc/warden.json" "$CONF"

# ---- the Mosquitto drop-in, as Debian's mosquitto.conf includes it --------------------------
# The same file with three paths moved into the test: the installed plugin in
# DESTDIR, the key store in $T/state, a free port.
BROKER_PORT=$(free_port)
S="$T/state"
mkdir -p "$T/conf.d" "$T/broker" "$S"
[ "$(id -u)" -eq 0 ] && id mosquitto > /dev/null 2>&1 && chown mosquitto "$T/broker"
sed -e "s|^plugin /usr/lib/warden/|plugin $R/usr/lib/warden/|" \
    -e "s|^plugin_opt_keystore /var/lib/warden/|plugin_opt_keystore $S/|" \
    -e "s|^listener 1883 |listener $BROKER_PORT |" \
    "$R/etc/mosquitto/conf.d/warden-hub.conf" > "$T/conf.d/warden-hub.conf"
cat > "$T/mosquitto.conf" <<EOF
persistence true
persistence_location $T/broker/
include_dir $T/conf.d
EOF
# The installed configuration, with the test's paths and port as flags.
W=("$R/usr/bin/warden" --config "$CONF" --db "$S/warden.db" --hub.keystore="$S/warden-hub.keys"
   --mqtt.password_file="$S/warden-hub.keys" --mqtt.port="$BROKER_PORT")
w() { "${W[@]}" "$@"; }
# In the README's order: the broker starts before Warden has made the key store.
mosquitto -c "$T/mosquitto.conf" > "$T/mosquitto.log" 2>&1 &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
wait_port "$BROKER_PORT" || fail dropin-broker-starts "$(tail -5 "$T/mosquitto.log")"
w registry init > /dev/null && w registry add lab-dev-1 > /dev/null || fail registry-add
wait_log "warden_hub: lab hub" "$T/mosquitto.log" 10
grep -q "warden_hub: lab hub lab-hub, key store $S/warden-hub.keys" "$T/mosquitto.log" &&
    pass dropin-loads-the-plugin-with-the-key-store || fail dropin-loads-the-plugin-with-the-key-store "$(cat "$T/mosquitto.log")"
mosquitto_pub -p "$BROKER_PORT" -t x -m x 2> /dev/null
[ $? -ne 0 ] && pass dropin-refuses-anonymous || fail dropin-refuses-anonymous
# The plugin reloads the key store within a second of a change.
tok=$(w registry token lab-dev-1 --host lab.example)
admitted=no
wait_until 'mosquitto_pub -p "$BROKER_PORT" -i lab-dev-1 -u "lab.example/lab-dev-1/?api-version=2021-04-12" \
    -P "$tok" -t devices/lab-dev-1/messages/events/ -m hello 2> /dev/null' 10 && admitted=yes
check dropin-admits-a-registered-device "$admitted" yes
"${W[@]}" run --web.listen=127.0.0.1:0 > "$T/warden.log" 2>&1 &
WARDEN_PID=$!
PIDS+=("$WARDEN_PID")
wait_until '[ "$(sqlite3 "$S/warden.db" "SELECT connected FROM ingest_state" 2> /dev/null)" = 1 ]' 30
check dropin-admits-warden-with-the-installed-configuration \
    "$(sqlite3 "$S/warden.db" "SELECT connected FROM ingest_state")" 1
stop_pid "$WARDEN_PID"
stop_pid "$BROKER_PID"

# ---- make uninstall -------------------------------------------------------------------------
mk uninstall > "$T/uninstall.log" 2>&1
check uninstall-exits-0 "$?" 0
check uninstall-leaves-only-the-configuration "$(cd "$R" && find . -type f | sort)" "./etc/warden/warden.json"
exit $NFAIL
