# Warden: build, test, run. `make help` lists the targets.
# Every core builds unless -j was given: `make test` alone builds three times
# (plain, sanitized, fuzzing) and would take minutes longer one file at a time.
ifeq ($(filter -j% --jobs%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
B       ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
# Where `make install` puts the configuration (Debian's Mosquitto reads
# /etc/mosquitto/conf.d), the systemd units and the service user's sysusers.d
# entry (systemd searches both directories under /usr and /usr/local).
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
CC      ?= cc
PKGS     = libmosquitto jansson libevent sqlite3 openssl

WARN     = -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wno-format-truncation -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN)
LDLIBS   = -lmosquitto -ljansson -levent_openssl -levent -lsqlite3 -lssl -lcrypto -lm

SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

MODULES  = common store hub notify ingest imports evaluator web sim
# hub/plugin.c is the Mosquitto plugin: it runs inside the broker, not in warden.
PLUGIN_SRC = hub/plugin.c
LIB_SRC  = $(filter-out $(PLUGIN_SRC),$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
LIB_OBJ  = $(LIB_SRC:%.c=$(B)/obj/%.o)
ASAN_OBJ = $(LIB_SRC:%.c=$(B)/asan/obj/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/asan/tests/%)
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
SQL_SRC  = $(sort $(wildcard sql/[0-9]*.sql))

.PHONY: all deps deps-test deps-bench test unit fuzz fuzz-build run demo bench install uninstall clean help check-long

all: $(B)/warden $(B)/warden_hub.so

# The lab hub plugin, loaded by Mosquitto (conf/lab-hub.conf). It takes only
# the pieces of Warden it needs, compiled position-independent.
PLUGIN_DEPS = hub/hubkeys.c hub/sas.c common/text.c
$(B)/warden_hub.so: $(PLUGIN_SRC) $(PLUGIN_DEPS) $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -shared -fvisibility=hidden -o $@ $(PLUGIN_SRC) $(PLUGIN_DEPS) -lssl -lcrypto

# The same plugin sanitized, for the tests (the broker is started with the
# sanitizer runtime preloaded).
$(B)/asan/warden_hub.so: $(PLUGIN_SRC) $(PLUGIN_DEPS) $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) -fPIC -shared -o $@ $(PLUGIN_SRC) $(PLUGIN_DEPS) -lssl -lcrypto

$(B)/warden: $(B)/obj/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/obj/%.o: %.c $(wildcard */*.h) $(B)/obj/store/schema.inc
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(B)/obj -c -o $@ $<

# The migrations of sql/ are compiled into the binary, so `warden` needs no
# files beside it; store/migrate.c includes this generated table.
$(B)/obj/store/schema.inc: $(SQL_SRC) tools/sql2c.sh
	@mkdir -p $(dir $@)
	sh tools/sql2c.sh $(SQL_SRC) > $@

# The same code with AddressSanitizer and UndefinedBehaviorSanitizer, for tests.
$(B)/asan/warden: $(B)/asan/obj/main.o $(ASAN_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

$(B)/asan/obj/%.o: %.c $(wildcard */*.h) $(B)/obj/store/schema.inc
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) -I$(B)/obj -c -o $@ $<

$(B)/asan/tests/%: tests/unit/%.c tests/unit/check.h $(ASAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) -I$(B)/obj -o $@ $< $(ASAN_OBJ) $(LDLIBS)

# libFuzzer targets need clang. Warden's code is compiled once with coverage
# and the sanitizers (fuzzer-no-link); each target links it with its own main.
FUZZ_CC    = clang
FUZZ_CFLAGS = -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -I$(B)/obj
FUZZ_OBJ   = $(LIB_SRC:%.c=$(B)/fuzz/obj/%.o)
.SECONDARY: $(FUZZ_OBJ)
$(B)/fuzz/obj/%.o: %.c $(wildcard */*.h) $(B)/obj/store/schema.inc
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

# Benchmark ceilings: small programs that do the least possible.
BENCH_SRC = $(wildcard bench/*.c)
BENCH_BIN = $(BENCH_SRC:bench/%.c=$(B)/bench/%)
$(B)/bench/%: bench/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I. -I$(B)/obj -o $@ $< $(LIB_OBJ) $(LDLIBS)

deps:
	@sh tools/deps.sh

deps-test:
	@sh tools/deps.sh --test

deps-bench:
	@sh tools/deps.sh --bench

unit: $(UNIT_BIN)

fuzz-build: $(FUZZ_BIN)

# `make fuzz` runs every target for FUZZ_SECONDS each; `make test` runs them briefly.
FUZZ_SECONDS ?= 60
fuzz: fuzz-build
	B=$(B) sh tests/fuzz/run.sh $(FUZZ_SECONDS)

test: deps-test $(B)/warden $(B)/asan/warden $(B)/warden_hub.so $(B)/asan/warden_hub.so $(UNIT_BIN) $(FUZZ_BIN) $(BENCH_BIN)
	B=$(B) sh tests/run.sh

# The long versions (about an hour): tests/long/run.sh says what each part does.
check-long: deps-test $(B)/warden $(B)/asan/warden $(B)/warden_hub.so $(B)/asan/warden_hub.so $(BENCH_BIN)
	B=$(B) bash tests/long/run.sh

run: deps all
	bash tools/run.sh

demo: deps all
	bash tools/run.sh --demo

bench: deps-bench $(B)/warden $(B)/warden_hub.so $(BENCH_BIN)
	B=$(B) python3 bench/run.py

install: $(B)/warden $(B)/warden_hub.so
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/warden/conf $(DESTDIR)$(PREFIX)/share/warden/examples
	install -m 0755 $(B)/warden $(DESTDIR)$(PREFIX)/bin/warden
	install -d $(DESTDIR)$(PREFIX)/lib/warden
	install -m 0644 $(B)/warden_hub.so $(DESTDIR)$(PREFIX)/lib/warden/warden_hub.so
	install -m 0644 conf/mosquitto.conf conf/alertmanager.yml conf/demo-* $(DESTDIR)$(PREFIX)/share/warden/conf/
	install -m 0644 sql/examples/*.sql $(DESTDIR)$(PREFIX)/share/warden/examples/
	install -d $(DESTDIR)$(PREFIX)/share/doc/warden
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/warden/README.md
	@$(MAKE) -s install-service

# The service (README "Install on a lab server"): dist/ holds the units and
# configuration with @PREFIX@-style placeholders, filled in here. The files
# of /etc are installed when absent and never replaced; the version this
# install would have put there goes to share/warden/etc/ to compare.
# StateDirectory=warden fixes the state directory.
STATEDIR = /var/lib/warden
DIST_SUBST = -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(PREFIX)/bin|g' \
             -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@STATEDIR@|$(STATEDIR)|g'
ETC_FILES  = warden/warden.json mosquitto/conf.d/warden-hub.conf
.PHONY: install-service
install-service:
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(PREFIX)/share/warden/etc \
	    $(DESTDIR)$(SYSCONFDIR)/warden $(DESTDIR)$(SYSCONFDIR)/mosquitto/conf.d
	for u in warden warden-hub-tls; do \
	    sed $(DIST_SUBST) dist/systemd/$$u.service.in > $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.service; done
	install -m 0644 dist/warden.sysusers $(DESTDIR)$(SYSUSERSDIR)/warden.conf
	# An example only: the drop-in pointing warden.service at an existing Alertmanager.
	install -d $(DESTDIR)$(PREFIX)/share/warden/examples/warden.service.d
	sed $(DIST_SUBST) dist/systemd/warden.service.d/alertmanager.conf.in \
	    > $(DESTDIR)$(PREFIX)/share/warden/examples/warden.service.d/alertmanager.conf
	chmod 0644 $(DESTDIR)$(PREFIX)/share/warden/examples/warden.service.d/alertmanager.conf
	sed $(DIST_SUBST) dist/warden.json.in > $(DESTDIR)$(PREFIX)/share/warden/etc/warden.json
	# The drop-in carries the settings of conf/mosquitto.conf but for allow_anonymous.
	{ sed $(DIST_SUBST) dist/mosquitto/warden-hub.conf.in && \
	  grep -v -e '^#' -e '^$$' -e '^allow_anonymous' conf/mosquitto.conf; } \
	    > $(DESTDIR)$(PREFIX)/share/warden/etc/warden-hub.conf
	chmod 0644 $(DESTDIR)$(PREFIX)/share/warden/etc/*
	@for f in $(ETC_FILES); do \
	    if [ -e $(DESTDIR)$(SYSCONFDIR)/$$f ]; then \
	        echo "install: kept $(DESTDIR)$(SYSCONFDIR)/$$f (this version: $(PREFIX)/share/warden/etc/$${f##*/})"; \
	    else install -m 0644 $(DESTDIR)$(PREFIX)/share/warden/etc/$${f##*/} $(DESTDIR)$(SYSCONFDIR)/$$f; fi; \
	done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v systemd-sysusers > /dev/null; then \
	    systemd-sysusers $(SYSUSERSDIR)/warden.conf; fi

# Everything install put outside /etc/warden, and the Mosquitto drop-in (its
# plugin is gone: Mosquitto would not start with it). Kept: the configuration
# in /etc/warden, the data in /var/lib/warden, the warden user.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/warden $(DESTDIR)$(PREFIX)/lib/warden/warden_hub.so \
	    $(DESTDIR)$(UNITDIR)/warden.service $(DESTDIR)$(UNITDIR)/warden-hub-tls.service \
	    $(DESTDIR)$(SYSUSERSDIR)/warden.conf $(DESTDIR)$(SYSCONFDIR)/mosquitto/conf.d/warden-hub.conf
	rm -rf $(DESTDIR)$(PREFIX)/share/warden $(DESTDIR)$(PREFIX)/share/doc/warden
	-rmdir $(DESTDIR)$(PREFIX)/lib/warden
	@echo "uninstall: kept $(SYSCONFDIR)/warden, $(STATEDIR) and the warden user (README: uninstalling)"

clean:
	rm -rf build

help:
	@echo "make            build $(B)/warden and $(B)/warden_hub.so (the lab hub plugin)"
	@echo "make deps       install the Debian packages Warden needs (apt-get)"
	@echo "make test       build, then run unit, fuzz, integration tests (sanitized)"
	@echo "make check-long the long reliability tests (crash, 30-minute soak, leaks)"
	@echo "make run        start the lab hub (broker + plugin) and warden run"
	@echo "make demo       make run plus simulated devices"
	@echo "make fuzz       run every fuzz target for FUZZ_SECONDS (default 60)"
	@echo "make bench      benchmarks with their ceilings"
	@echo "make install    install to DESTDIR/PREFIX (default /usr/local), with the systemd units"
	@echo "make uninstall  remove what make install put there (not the configuration or data)"
