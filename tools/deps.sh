#!/bin/sh
# Install the Debian packages Warden builds, runs and tests with, when missing.
# Run by `make deps` (and so by `make run` and `make demo`); `make bench` runs it
# with --bench, which adds what only the benchmarks need, and `make test` with
# --test, which adds what only the tests need (the benchmarks' too: the tests
# run a tiny version of every benchmark).
set -e
PKGS="build-essential pkg-config libsqlite3-dev sqlite3 libmosquitto-dev libjansson-dev
libevent-dev libssl-dev mosquitto mosquitto-clients mosquitto-dev flatbuffers-compiler
clang libclang-rt-dev curl openssl prometheus-alertmanager"
# Only the tests need these: the browser of tests/integration/test_web_browser.sh (and its
# WebDriver, for test_tuning_browser.sh),
# and systemd-analyze and systemd-sysusers for test_install.sh.
TEST_PKGS="chromium chromium-driver systemd"
# Only the benchmarks need these: the HTTP load generator of the web benchmark.
BENCH_PKGS="wrk"
[ "${1:-}" = "--test" ] && PKGS="$PKGS $TEST_PKGS $BENCH_PKGS"
[ "${1:-}" = "--bench" ] && PKGS="$PKGS $BENCH_PKGS"
[ -n "$WARDEN_EXTRA_PKGS" ] && PKGS="$PKGS $WARDEN_EXTRA_PKGS"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
