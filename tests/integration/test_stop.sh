#!/bin/bash
# Warden stops on SIGTERM even when the broker goes at the same moment: when
# a lab shuts down, the broker and Warden get their SIGTERM together, and
# Warden's goodbye (its last PUBACKs and DISCONNECT) meets a closed socket.
# Seen under load in `make test`, whose tests stop the broker and Warden
# together: Warden spun in its goodbye loop and never exited.
#
# The closed socket is made certain: a library preloaded into Warden fails
# every write() to a TCP socket once a flag file exists (EPIPE, as a write to a
# broker that is gone). The plain build: the sanitized one wants its runtime
# first among the preloaded libraries.
. "$(dirname "$0")/lib.sh"
WARDEN=${WARDEN_PLAIN:-build/warden}

cat > "$T/broken_writes.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* write() to a TCP socket fails with EPIPE once the file named by BREAK_WRITES exists. */
ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    const char *flag = getenv("BREAK_WRITES");
    int domain = 0;
    socklen_t len = sizeof(domain);

    if (real == NULL)
        real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (flag != NULL && access(flag, F_OK) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
        (domain == AF_INET || domain == AF_INET6)) {
        errno = EPIPE;
        return -1;
    }
    return real(fd, buf, n);
}
C
cc -shared -fPIC -O1 -o "$T/broken_writes.so" "$T/broken_writes.c" -ldl ||
    { fail stop-shim-build; exit 1; }

start_broker
LD_PRELOAD="$T/broken_writes.so" BREAK_WRITES="$T/break" start_warden
# The goodbye has at least the DISCONNECT to write, and its write fails.
touch "$T/break"
kill -TERM "$WARDEN_PID"
if wait_gone "$WARDEN_PID" 30; then
    wait "$WARDEN_PID"
    check stop-exits-when-the-broker-connection-breaks-at-sigterm "$?" 0
else
    fail stop-exits-when-the-broker-connection-breaks-at-sigterm "still running 30 s after SIGTERM"
    stop_pid "$WARDEN_PID" KILL
fi
grep -q "signal 15: stopping" "$T/warden.log" && pass stop-sigterm-seen || fail stop-sigterm-seen
stop_pid "$BROKER_PID"
exit $NFAIL
