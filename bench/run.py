#!/usr/bin/env python3
"""Warden's benchmarks, each printed beside the ceiling it measured in the same run: the
machine's speed drifts from run to run, so only ratios measured together mean anything.
bench/README.md says what each figure is, and how to add a benchmark.

  python3 bench/run.py [--quick] [BENCH ...]        (`make bench` runs it with none)

With no BENCH, every benchmark runs and the results go to bench/results/latest.json and
latest.md; --quick (what `make test` runs) uses tiny sizes so the harness cannot rot, and,
like a run of only some benchmarks, writes its results under $B/bench-results/ instead.
B is the build directory (build); KEEP=1 keeps the scratch directory under /tmp.
Everything runs on 127.0.0.1 on free ports; every process started is stopped by its pid.
"""
import argparse, base64, contextlib, json, os, random, shutil, signal, sqlite3, statistics
import subprocess, sys, tempfile, time, traceback, urllib.request
from functools import partial
from types import SimpleNamespace as NS

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = os.environ.get("B", "build")
WARDEN, BIN = f"{B}/warden", f"{B}/bench"
FLOWS = 20                        # flows per network-activity message (the 20)
WIRE_BYTES = 36                   # what a flow takes on the wire (FlatBuffers)
RSS_TARGET_MIB = 256
HUB_BYTES, HUB_WINDOW = 600, 100  # about a FlatBuffers security message; unacknowledged a device

# Sizes, (full, quick): the full run lasts several seconds per figure and fits, all of it, in
# 15 minutes on 2 cores; --quick takes seconds. Strings go to the tools as they are.
SIZES = dict(
    devices=(1000, 100),                              # simulated devices of the ingest runs
    fb_count=(200000, 3000), json_count=(40000, 1000),  # messages of the FlatBuffers, JSON runs
    json_sample=(5000, 300), json_cpu=("3", "0.3"),   # json_ceiling: messages, CPU seconds
    lat_seconds=(10, 1),                              # seconds of steady publishing, latency
    fill_devices=(1000, 10), fill_hours=(3, 1),       # storage_fill
    wait_max=(300, 60),                               # seconds Warden may take to store a run
    eval_devices=(10000, 100), eval_days=(("0.1", "0.7"), ("0.02", "0.14")), eval_ranges=(1000000, 1000),
    intel_ranges=(1000000, 1000), intel_seconds=("2", "0.1"),
    mem_devices=(10000, 100), mem_count=(100000, 3000), mem_ranges=(1000000, 1000),
    web_alerts=(1000000, 2000), web_devices=(10000, 100), wrk_seconds=(10, 1),
    hub_devices=(8, 4), hub_per_device=(20000, 500), hub_rounds=(6, 1),
    notify_alerts=(10000, 200))                       # alerts opened at once, notify
S = NS(**{k: v[0] for k, v in SIZES.items()})
T = ""                            # the scratch directory
BENCHES, EXTRA = {}, {}           # name -> function, in the order they run
RESULTS, PROCS = {}, {}           # name -> what it returned; pid -> Popen (None: not our child)
FIGURES, CHECKS, RAW = [], [], []


def bench(fn=None, extra=False):
    """Register a benchmark; an extra one runs only when named."""
    def add(f):
        (EXTRA if extra else BENCHES)[f.__name__] = f
        return f
    return add(fn) if fn else add


class Abort(Exception):
    """A benchmark that cannot go on (its FAIL is recorded); the others still run."""


# ---- files and numbers ---------------------------------------------------------------------

def num(x, digits=6):
    """X rounded as printf's %.6g rounds it (the figures' precision); an int when whole."""
    v = float("%.*g" % (digits, x))
    return int(v) if v.is_integer() else v

def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""

def tail(path, n=3):
    return "\n".join(read(path).splitlines()[-n:])

def jget(path):
    """A tool's summary: the one-line JSON object it prints last ({} if none)."""
    try:
        return json.loads(tail(path, 1))
    except ValueError:
        return {}

def write(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")

def remove_db(path):
    for p in (path, path + "-wal", path + "-shm"):
        if os.path.exists(p):
            os.remove(p)

def scratch(name):
    os.makedirs(f"{T}/{name}", exist_ok=True)
    return f"{T}/{name}"

def say(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---- SQLite --------------------------------------------------------------------------------

# Messages Warden counted, every kind but "security" (a subset of d2c).
MSGS_SQL = """SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = 'warden_messages_total'
    AND label IN ('kind="d2c"', 'kind="c2d"', 'kind="method"', 'kind="twin"', 'kind="hub"')"""
FLOWS_ROWS = "count(*) FROM flow_pack, json_each(flows)"  # the flows stored, a row each
FLOWS_SQL = "SELECT " + FLOWS_ROWS

def sq_row(db, query, *params):
    """One row, or None while the database cannot answer (not there yet, locked). A
    connection a query: one left open would hold back Warden's checkpoints."""
    if not os.path.exists(db):
        return None
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=1)) as con:
            return con.execute(query, params).fetchone()
    except sqlite3.Error:
        return None

def sq(db, query, *params):
    """The first value as the sqlite3 shell prints it ('' for NULL or an error)."""
    row = sq_row(db, query, *params)
    return "" if row is None or row[0] is None else str(row[0])

def counter(db, name, label=None):
    q = "SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = ?"
    return sq(db, q + " AND label = ?", name, label) if label else sq(db, q, name)

def stored(name, db, expected):
    """Poll until Warden has counted EXPECTED messages: the time of the commit that stored
    them (0 after wait_max seconds, a FAIL). The counters and ingest_state.last_commit_ms
    are written by the same transaction, and the next commit (an idle one) comes no sooner
    than a second later, so the first snapshot showing the count carries its time."""
    deadline = time.monotonic() + S.wait_max
    while time.monotonic() < deadline:
        row = sq_row(db, f"SELECT ({MSGS_SQL}), (SELECT last_commit_ms FROM ingest_state)")
        if row and row[0] >= expected:
            return row[1]
        time.sleep(0.05)
    fail(name, f"Warden stored {sq(db, MSGS_SQL)} of {expected} messages in {S.wait_max}s")
    return 0


# ---- processes -----------------------------------------------------------------------------

def alive(pid):
    """The process exists and has not exited (one that exited stays a zombie until it is
    waited for, and kill(pid, 0) still finds it)."""
    stat = read(f"/proc/{pid}/stat")
    return bool(stat) and stat[stat.rindex(")") + 2] != "Z"

def spawn(args, out, log=False):
    """Start a process, its stdout in OUT and its stderr in OUT's name with .err (or, for a
    LOG, both appended to OUT); tracked until stopped."""
    with open(out, "ab" if log else "wb") as o, open(os.path.splitext(out)[0] + ".err", "wb") as e:
        p = subprocess.Popen(args, stdout=o, stderr=subprocess.STDOUT if log else e)
    PROCS[p.pid] = p
    return p

def run(name, args, out):
    """Run a tool to its end (15 minutes at most), as spawn; True when it succeeded, else a
    FAIL under NAME (with no NAME, the caller judges its output)."""
    p = spawn(args, out)
    try:
        ok = p.wait(900) == 0
    except subprocess.TimeoutExpired:
        ok = False
    stop(p.pid)
    if not ok and name:
        what = os.path.basename(args[0]) + (f" {args[1]}" if args[0] == WARDEN else "")
        fail(name, f"{what} failed: {tail(os.path.splitext(out)[0] + '.err')}")
    return ok

def stop(pid):
    """SIGTERM one of ours, SIGKILL after 20 s, and wait until it is gone. The broker is not
    our child (tools/broker.sh starts it), hence the polling rather than wait()."""
    p = PROCS.pop(pid, None)
    if p and p.poll() is not None:
        return  # reaped: its pid may be another process's by now
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    if p:
        p.wait()

def wait_until(seconds, cond):
    """Poll COND every 50 ms until it holds (True) or SECONDS have passed (False)."""
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True

def tcp_ports(listening_only=False):
    """Local TCP ports in use (or listened on), from the kernel's own tables."""
    rows = [l.split() for t in ("/proc/net/tcp", "/proc/net/tcp6") for l in read(t).splitlines()[1:]]
    return {int(r[1].rsplit(":", 1)[1], 16) for r in rows if not listening_only or r[3] == "0A"}

def free_port():
    # Below the ephemeral range (32768-60999), which outgoing connections take from.
    return next(p for p in iter(lambda: random.randrange(20000, 32000), 0) if p not in tcp_ports())

def listening(port):
    return port in tcp_ports(listening_only=True)

def wait_ready(name, out):
    """Wait until a subscriber says "ready" on its stderr."""
    err = os.path.splitext(out)[0] + ".err"
    if not wait_until(10, lambda: "ready" in read(err)):
        fatal(name, f"{os.path.basename(out).split('.')[0]} did not subscribe")

def start_broker(d, env=None):
    """The lab broker (conf/mosquitto.conf) on a free port, its state in D: (port, pid). A
    port taken meanwhile: try another."""
    for _ in range(5):
        port = free_port()
        pid = int(subprocess.run(["sh", "tools/broker.sh", str(port), d], env=env, check=True,
                                 stdout=subprocess.PIPE).stdout)
        PROCS[pid] = None
        if wait_until(10, lambda: listening(port)) and alive(pid):
            return port, pid
        stop(pid)
    fatal("broker", "cannot start mosquitto: " + tail(f"{d}/mosquitto.log"))

@contextlib.contextmanager
def lab(broker_dir, warden_dir=None, env=None, args=()):
    """A fresh broker for the with block and, with WARDEN_DIR, `warden run` on its warden.db
    (fresh, unless a benchmark filled it) connected to it, the web on a free port of its
    own, with ARGS added; both stopped after the block, whatever happened in it."""
    l = NS(warden=None)
    l.port, l.broker = start_broker(broker_dir, env)
    try:
        if warden_dir:
            l.db, l.web_port = f"{warden_dir}/warden.db", free_port()
            l.warden = spawn([WARDEN, "run", "--db", l.db, f"--mqtt.port={l.port}", "--mqtt.client_id=bench",
                              f"--web.listen=127.0.0.1:{l.web_port}", *args], f"{warden_dir}/warden.log", log=True)
            if not wait_until(20, lambda: sq(l.db, "SELECT connected FROM ingest_state") == "1"):
                fatal("warden-start", tail(f"{warden_dir}/warden.log", 5))
        yield l
    finally:
        if l.warden:
            stop(l.warden.pid)
        stop(l.broker)

def vm_hwm(pid):
    """Peak resident memory of a process so far, in KiB."""
    return next(int(l.split()[1]) for l in read(f"/proc/{pid}/status").splitlines() if l.startswith("VmHWM:"))

def cpu_ticks(pid):
    """User + system clock ticks a process has used so far."""
    stat = read(f"/proc/{pid}/stat")
    return sum(int(x) for x in stat[stat.rindex(")") + 2:].split()[11:13])


# ---- results -------------------------------------------------------------------------------

def fail(name, detail):
    CHECKS.append(("FAIL", name, detail))
    print(f"FAIL {name}: {detail}", flush=True)

def fatal(name, detail):
    fail(name, detail)
    raise Abort(name)

def check(name, actual, expected, what=""):
    """A benchmark's own output against the database: equal as printed."""
    if str(actual) != str(expected):
        return fail(name, f"{what}got {actual}, expected {expected}")
    CHECKS.append(("ok", name, f"{what}{actual}"))
    print(f"ok {name}: {what}{actual}", flush=True)

# A target: how the table says it, and whether (value, ratio) meet it.
TARGETS = {"ratio>=": (">= {} x ceiling", lambda v, r, x: r is not None and r >= x),
           "value<": ("< {}", lambda v, r, x: v < x), "value>=": (">= {}", lambda v, r, x: v >= x)}

def split_target(t):
    kind = next(k for k in TARGETS if t.startswith(k))
    return kind, t[len(kind):]

def figure(bench_name, name, value, unit, ceiling_label=None, ceiling=None, target=None):
    """A row of the table. TARGET: "ratio>=X" (value / ceiling), "value<X", "value>=X", or
    None (reported for context). The ratio is kept to 3 decimals, as printed."""
    ratio = value / ceiling if ceiling is not None and ceiling > 0 else None
    kind, x = split_target(target) if target else (None, 0)
    result = ("PASS" if TARGETS[kind][1](value, ratio, float(x)) else "MISS") if target else "-"
    FIGURES.append(NS(bench=bench_name, name=name, value=value, unit=unit, ceiling_label=ceiling_label,
                      ceiling=ceiling, target=target, result=result,
                      ratio=None if ratio is None else float("%.3f" % ratio)))

def raw(key, path):
    """Keep a tool's JSON summary line, verbatim, for latest.json."""
    RAW.append((key, tail(path, 1) or "null"))

def needs(name):
    """Run a benchmark once and return what it returned; one that needs another's figures
    calls this first. The load average before each goes into latest.json: other work on the
    machine lowers the figures, the ceilings' and Warden's at different times."""
    if name not in RESULTS:
        RESULTS[name] = None
        RAW.append((f"loadavg_before.{name}", json.dumps(loadavg())))
        try:
            RESULTS[name] = {**BENCHES, **EXTRA}[name]()
        except Abort:
            pass
        except Exception as e:  # a bug of the harness: say where, and go on with the next benchmark
            traceback.print_exc()
            fail(name.replace("_", "-"), f"the harness failed: {e!r}")
    return RESULTS[name]


# ---- ingest --------------------------------------------------------------------------------

def sim_args(port, fmt, count=None, duration=None, devices=None, rate="max"):
    """`warden sim` with the benchmarks' traffic, for COUNT messages or DURATION seconds."""
    until = ["--count", str(count)] if count else ["--duration", str(duration)]
    return [WARDEN, "sim", f"--mqtt.port={port}", "--rate", str(rate), "--flows", str(FLOWS),
            "--devices", str(devices or S.devices), "--format", fmt, *until]

def ceiling_broker(fmt, count, d):
    """The broker and `warden sim` feeding null_sub, a QoS 1 subscriber that does nothing:
    (rate, received). D is named after the benchmark, and so are its checks."""
    name = os.path.basename(d)
    with lab(f"{d}/broker") as l:
        ns = spawn([f"{BIN}/null_sub", str(l.port), str(count), "10"], f"{d}/null_sub.json")
        wait_ready(name, f"{d}/null_sub.json")
        run(name, sim_args(l.port, fmt, count), f"{d}/sim-ceiling.json")
        ns.wait()
        stop(ns.pid)
    c = jget(f"{d}/null_sub.json")
    check(f"{name} ceiling-received", c.get("received"), jget(f"{d}/sim-ceiling.json").get("published"),
          "null_sub received ")
    return c["rate"], c["received"]

def ingest_warden(fmt, count, d, received):
    """The same broker and sim command into `warden run`: how fast it stored them; its rows
    and counters checked against the simulator's and null_sub's (RECEIVED) counts."""
    name, db = os.path.basename(d), f"{d}/warden.db"
    with lab(f"{d}/broker", d) as l:
        run(name, sim_args(l.port, fmt, count), f"{d}/sim.json")
        sim = jget(f"{d}/sim.json")
        last_commit = stored(name, db, sim["published"])
        w = NS(sim=sim, hwm=vm_hwm(l.warden.pid))
    # The first message of the run registered its device: devices.first_seen_ms is its recv_ms.
    first = int(sq(db, "SELECT min(first_seen_ms) FROM devices"))
    w.msgs, w.flows, w.seconds = int(sq(db, MSGS_SQL)), int(sq(db, FLOWS_SQL)), num((last_commit - first) / 1000)
    w.rate, w.flows_rate = num(w.msgs / w.seconds), num(w.flows / w.seconds)
    write(f"{d}/warden.json", json.dumps(dict(messages=w.msgs, flows=w.flows, seconds=w.seconds, rate=w.rate,
                                              flows_rate=w.flows_rate, vm_hwm_kib=w.hwm)))
    check(f"{name} published", sim["published"], received, "the simulator published, as for the ceiling, ")
    check(f"{name} messages", w.msgs, received, "Warden counted (d2c+c2d+method+twin+hub) ")
    check(f"{name} flows-stored", w.flows, sim["flows"], FLOWS_ROWS + " ")
    check(f"{name} flows-counted", counter(db, "warden_flows_total"), sim["flows"], "warden_flows_total ")
    check(f"{name} security-messages", counter(db, "warden_messages_total", 'kind="security"'),
          sim["security_messages"], "security messages ")
    check(f"{name} events", counter(db, "warden_events_total"), sim["events"], "warden_events_total ")
    check(f"{name} no-loss", counter(db, "warden_dead_letters_total") + "/" +
          counter(db, "warden_events_duplicate_total"), "0/0", "dead letters/duplicates ")
    return w

@bench
def ingest_flatbuffers():
    d, fig = scratch("ingest-flatbuffers"), partial(figure, "ingest, FlatBuffers")
    say(f"ingest, FlatBuffers: ceiling (broker + null_sub), {S.fb_count} messages")
    ceiling, received = ceiling_broker("flatbuffers", S.fb_count, d)
    say("ingest, FlatBuffers: warden run")
    w = ingest_warden("flatbuffers", S.fb_count, d, received)
    # Where the storing alone would stop: the same number of flow rows into Warden's
    # schema with nothing else to do (bench/sqlite_ceiling.c).
    flows = w.sim["flows"]
    say(f"ingest, FlatBuffers: ceiling (SQLite inserts alone), {flows} rows")
    run("ingest-flatbuffers", [f"{BIN}/sqlite_ceiling", f"{d}/sqlite.db", str(flows)], f"{d}/sqlite_ceiling.json")
    check("ingest-flatbuffers sqlite-rows", sq(f"{d}/sqlite.db", FLOWS_SQL), flows, "sqlite_ceiling rows ")
    remove_db(f"{d}/sqlite.db")
    fig("messages/s", w.rate, "msg/s", "broker + null subscriber", ceiling, "ratio>=0.8")
    fig("flows/s", w.flows_rate, "flows/s", "broker + null subscriber",
        num(ceiling * num(flows / w.sim["published"])), "ratio>=0.8")
    fig("flows/s", w.flows_rate, "flows/s", "SQLite inserts alone, one core", jget(f"{d}/sqlite_ceiling.json")["rate"])
    for key in ("sim", "null_sub", "warden", "sqlite_ceiling"):
        raw(f"ingest_flatbuffers.{key}", f"{d}/{key}.json")
    return NS(ceiling=ceiling, warden_flows=w.flows_rate, db=f"{d}/warden.db", hwm=w.hwm)

@bench
def ingest_json():
    d, fig = scratch("ingest-json"), partial(figure, "ingest, JSON")
    say(f"ingest, JSON: ceiling (broker + null_sub), {S.json_count} messages")
    ceiling, received = ceiling_broker("json", S.json_count, d)
    # Jansson alone: json_ceiling captures the first json_sample messages of the same sim
    # command, then parses them on one core with the broker idle.
    say(f"ingest, JSON: ceiling (Jansson alone), {S.json_sample} messages captured")
    with lab(f"{d}/broker-capture") as l:
        jc = spawn([f"{BIN}/json_ceiling", str(l.port), str(S.json_sample), S.json_cpu, "10"], f"{d}/json_ceiling.json")
        wait_ready("ingest-json", f"{d}/json_ceiling.json")
        run("ingest-json", sim_args(l.port, "json", S.json_sample), f"{d}/sim-capture.json")
        if jc.wait() != 0:
            fail("ingest-json", "json_ceiling failed: " + tail(f"{d}/json_ceiling.err"))
        stop(jc.pid)
    jansson = jget(f"{d}/json_ceiling.json")
    check("ingest-json parser-sample", f"{jansson.get('captured')}/{jansson.get('errors')}", f"{S.json_sample}/0",
          "json_ceiling captured/parse errors ")
    say("ingest, JSON: warden run")
    w = ingest_warden("json", S.json_count, d, received)
    lower = min((ceiling, "broker + null subscriber"), (jansson["rate"], "Jansson alone"), key=lambda c: c[0])
    fig("messages/s", w.rate, "msg/s", f"lower ceiling: {lower[1]}", lower[0], "ratio>=0.7")
    fig("messages/s", w.rate, "msg/s", "broker + null subscriber", ceiling)
    fig("messages/s", w.rate, "msg/s", "Jansson alone, one core", jansson["rate"])
    fig("flows/s", w.flows_rate, "flows/s")
    for key in ("sim", "null_sub", "json_ceiling", "warden"):
        raw(f"ingest_json.{key}", f"{d}/{key}.json")
    return NS(hwm=w.hwm)

def latency_run(rate, name, raw_key):
    """`warden run` fed by bench/latency_pub.c at RATE messages a second; checks that every
    message arrived. latency_pub's summary, or None."""
    d = scratch(name)
    with lab(f"{d}/broker", d) as l:
        run(None, [f"{BIN}/latency_pub", str(l.port), l.db, str(rate), str(S.lat_seconds), str(S.devices),
                   str(FLOWS)], f"{d}/latency.json")
    lat = jget(f"{d}/latency.json")
    if "published" not in lat:
        return fail("ingest-latency", "latency_pub: " + tail(f"{d}/latency.err"))
    check(f"ingest-latency {rate}/s seen", f"{lat['seen']}/{lat['extra']}", f"{lat['published']}/0",
          "messages seen in flow_pack/extra ")
    check(f"ingest-latency {rate}/s flows-stored", sq(f"{d}/warden.db", FLOWS_SQL), lat["published"] * FLOWS,
          FLOWS_ROWS + " ")
    raw(raw_key, f"{d}/latency.json")
    return lat

@bench
def ingest_latency():
    """Publish-to-commit delay at half the FlatBuffers ceiling (messages a second), the
    issue's figure; and, to tell queueing from batching, at half the flows a second Warden
    itself reached (in flows: every message here has 20, the simulator's 14 on average)."""
    fb, fig = needs("ingest_flatbuffers"), partial(figure, "ingest latency", unit="ms")
    rate = int(fb.ceiling / 2)
    say(f"ingest latency: {rate} messages/s (half the FlatBuffers ceiling) for {S.lat_seconds}s")
    lat = latency_run(rate, "ingest-latency-ceiling", "ingest_latency.ceiling_half")
    if lat:
        fig(f"publish->commit p99 at {lat['rate']:.0f} msg/s (ceiling / 2)", lat["p99_ms"], target="value<250")
        fig("publish->commit p50", lat["p50_ms"])
        fig("publish->recv p99", lat["recv_p99_ms"])
        fig("recv->commit p99", lat["commit_p99_ms"])
    rate = int(fb.warden_flows / 2 / FLOWS)
    say(f"ingest latency: {rate} messages/s (half Warden's FlatBuffers flows/s) for {S.lat_seconds}s")
    lat = latency_run(rate, "ingest-latency-warden", "ingest_latency.warden_half")
    if lat:
        fig(f"publish->commit p99 at {lat['rate']:.0f} msg/s (Warden's flows/s / 2)", lat["p99_ms"])
        fig("publish->commit p50", lat["p50_ms"])
        fig("recv->commit p99", lat["commit_p99_ms"])


# ---- storage -------------------------------------------------------------------------------

def used_bytes(db):
    """Pages in use times page size."""
    return int(sq(db, "SELECT ((SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM "
                      "pragma_freelist_count)) * (SELECT page_size FROM pragma_page_size)"))

@bench
def storage():
    fb, d = needs("ingest_flatbuffers"), scratch("storage")
    fig = partial(figure, "storage", unit="bytes", ceiling_label="a flow on the wire", ceiling=WIRE_BYTES)
    # What the ingest benchmark left (the simulator's traffic, a few minutes of it).
    fig("bytes/flow after the FlatBuffers ingest run", num(used_bytes(fb.db) / int(sq(fb.db, FLOWS_SQL))))
    # A simulated lab written through the store API (bench/storage_fill.c).
    say(f"storage: {S.fill_hours} simulated hours of {S.fill_devices} devices through the store")
    db = f"{d}/warden.db"
    if not run("storage", [f"{BIN}/storage_fill", db, str(S.fill_devices), str(S.fill_hours), str(FLOWS)],
               f"{d}/fill.json"):
        return
    flows, used = jget(f"{d}/fill.json")["flows"], used_bytes(db)
    check("storage flows-stored", sq(db, FLOWS_SQL), flows, FLOWS_ROWS + " ")
    check("storage integrity", sq(db, "PRAGMA quick_check"), "ok", "quick_check ")
    # A day is the hours written plus (24 - H) more hours of steady growth, the growth of
    # the last simulated hour (the dedup ids stop growing after two hours; everything else
    # grows with time).
    hours = [json.loads(line) for line in read(f"{d}/fill.json").splitlines() if '"hour"' in line]
    target = "value<80"
    if len(hours) >= 2:
        grow, hour_flows = (hours[-1][k] - hours[-2][k] for k in ("used_bytes", "flows"))
        more = 24 - len(hours)
        fig(f"bytes/flow, a day of {S.fill_devices} devices ({len(hours)} h written + {more} x the last hour)",
            num((used + more * grow) / (flows + more * hour_flows)), target=target)
        fig("bytes/flow of the last hour's growth", num(grow / hour_flows))
        target = None
    fig(f"bytes/flow after {len(hours)} h of {S.fill_devices} devices", num(used / flows), target=target)
    with contextlib.closing(sqlite3.connect(db)) as con:
        tables = con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name HAVING sum(pgsize) > 4096 "
                             "ORDER BY 2 DESC").fetchall()
    write(f"{d}/tables.json", "{" + ", ".join('"%s": %.2f' % (t, size / flows) for t, size in tables) + "}")
    raw("storage.fill", f"{d}/fill.json")
    raw("storage.bytes_per_flow_by_table", f"{d}/tables.json")


# ---- memory --------------------------------------------------------------------------------

def intel_list(n, path):
    """N distinct ranges, three IPv4 /24 to one IPv6 /48, one a line (`warden intel load`)."""
    write(path, "\n".join("2a%02x:%x::/48" % (i // 65536 % 256, i % 65536) if i % 4 == 3 else
                          "%d.%d.%d.0/24" % (a // 65536, a // 256 % 256, a % 256)
                          for i, a in ((i, i * 2654435761 % 16777216) for i in range(n))))

@bench
def memory():
    """Peak memory of `warden run` with the issue's fleet: mem_devices devices and a threat
    list of mem_ranges ranges loaded (the evaluator builds its matcher before the load
    starts), through a FlatBuffers ingest run of its own; and, for context, the VmHWM of
    the two ingest benchmarks (1,000 devices, no list)."""
    d, fig = scratch("memory"), partial(figure, "memory", unit="MiB")
    db = f"{d}/warden.db"
    say(f"memory: {S.mem_devices} devices, a threat list of {S.mem_ranges} ranges, {S.mem_count} FlatBuffers messages")
    intel_list(S.mem_ranges, f"{d}/intel.txt")
    if not (run("memory", [WARDEN, "db", "migrate", "--db", db], f"{d}/migrate.log") and
            run("memory", [WARDEN, "intel", "load", f"{d}/intel.txt", "--name", "bench", "--db", db], f"{d}/intel.log")):
        return
    check("memory ranges-loaded", sq(db, "SELECT count(*) FROM intel_ranges"), S.mem_ranges, "intel_ranges rows ")
    with lab(f"{d}/broker", d) as l:
        # The first pass comes at once; it builds the matcher from the list.
        passes = "SELECT value FROM evaluator_state WHERE key = 'passes_total'"
        if not wait_until(120, lambda: int(sq(db, passes) or 0) >= 1):
            fail("memory", "no evaluator pass in 120 s: " + tail(f"{d}/warden.log"))
        before = vm_hwm(l.warden.pid)
        run("memory", sim_args(l.port, "flatbuffers", S.mem_count, devices=S.mem_devices), f"{d}/sim.json")
        sim = jget(f"{d}/sim.json")
        stored("memory", db, sim["published"])
        hwm = vm_hwm(l.warden.pid)
    check("memory messages", sq(db, MSGS_SQL), sim["published"], "Warden counted ")
    check("memory devices", sq(db, "SELECT count(*) FROM devices"), S.mem_devices, "devices rows ")
    check("memory flows-stored", sq(db, FLOWS_SQL), sim["flows"], FLOWS_ROWS + " ")
    write(f"{d}/memory.json", json.dumps(dict(devices=S.mem_devices, ranges=S.mem_ranges, messages=sim["published"],
                                              vm_hwm_kib_before_load=before, vm_hwm_kib=hwm)))
    raw("memory", f"{d}/memory.json")
    fig(f"peak RSS of warden run, {S.mem_devices} devices, {S.mem_ranges}-range list, FlatBuffers ingest",
        num(hwm / 1024), target=f"value<{RSS_TARGET_MIB}")
    fig("the same before the ingest (list loaded, matcher built)", num(before / 1024))
    remove_db(db)
    os.remove(f"{d}/intel.txt")
    for name, label in (("ingest_flatbuffers", "FlatBuffers"), ("ingest_json", "JSON")):
        if RESULTS.get(name):
            fig(f"peak RSS of warden run, {label} ingest ({S.devices} devices, no list)", num(RESULTS[name].hwm / 1024))


# ---- evaluator and threat intelligence -----------------------------------------------------

def eval_run(devices, days, ranges):
    """One eval_bench run: its summary."""
    say(f"evaluator: {devices} devices, {days} days of history, {ranges} ranges (synthesising)")
    out = f"{T}/eval-{days}.json"
    run(f"evaluator {days} days", [f"{BIN}/eval_bench", f"{T}/eval.db", str(devices), days, str(ranges)], out)
    remove_db(f"{T}/eval.db")
    raw(f"evaluator-{days}d", out)
    check(f"evaluator {days} days: no alerts from a fleet inside its rules", jget(out).get("alerts"), 0)
    return jget(out)

def evaluator_figures(devices, days, ranges):
    short, long = (eval_run(devices, day, ranges) for day in days)
    figure("evaluator", f"pass, {devices} devices, every rule, {ranges} ranges, {days[0]} days of history "
           f"({short['count_rows']} count rows)", short["pass_ms"], "ms", target="value<1000")
    figure("evaluator", f"pass, {days[1]} days of history ({long['count_rows']} count rows), against the "
           f"{days[0]}-day pass", long["pass_ms"], "ms", f"the {days[0]}-day pass", short["pass_ms"], "value<1000")
    # Judged on the passes' CPU time: their wall time is stretched by whatever else runs on
    # the machine, at different moments for the two passes.
    check("evaluator: longer history within 1.2x (CPU time)",
          "yes" if long["pass_cpu_ms"] <= 1.2 * short["pass_cpu_ms"] + 20 else "no", "yes")

@bench
def evaluator():
    evaluator_figures(S.eval_devices, S.eval_days, S.eval_ranges)

@bench(extra=True)
def evaluator_days():
    """Not in the default run (about 15 minutes on its own): the evaluator over the SPEC's
    1 and 7 days of history for 10,000 devices."""
    evaluator_figures(10000, ("1", "7"), 1000000)

@bench
def intel():
    out, fig = f"{T}/intel.json", partial(figure, "intel matcher")
    run("intel", [f"{BIN}/intel_bench", str(S.intel_ranges), S.intel_seconds], out)
    raw("intel", out)
    res = jget(out)
    check("intel matcher built every range", res.get("ranges"), S.intel_ranges)
    fig(f"lookups/s, {S.intel_ranges} ranges, random IPv4 and IPv6", res["lookups_per_s"], "lookups/s",
        "binary search over the sorted ranges", res["ceiling_lookups_per_s"], "ratio>=1")
    fig(f"memory for {S.intel_ranges} ranges", num(res["memory_bytes"] / 1048576), "MiB")


# ---- web -----------------------------------------------------------------------------------

def to_ms(v):
    """A wrk duration (12.5us, 3.2ms, 1.1s, 2m) in milliseconds."""
    unit = next(u for u in ("us", "ms", "m", "s", "") if v.endswith(u))
    return num(float(v[:len(v) - len(unit)]) * {"us": 0.001, "ms": 1, "m": 60000, "s": 1000, "": 0}[unit], 4)

def wrk(d, name, url, script=None):
    """The issue's wrk settings (32 connections) for wrk_seconds, with a wrk Lua script if
    given: requests a second, p50 and p99 in ms; checks every answer was a 2xx."""
    out = f"{d}/{name}.wrk"
    run(f"web {name}", ["wrk", "-c", "32", "-t", "2", "-d", f"{S.wrk_seconds}s", "--latency",
                        *(["-s", script] if script else []), url], out)
    r, requests, bad = NS(rps=0, p50=0, p99=0), 0, 0
    for f in (line.replace(",", "").split() for line in read(out).splitlines()):
        if f[:1] == ["Requests/sec:"]:
            r.rps = float(f[1])
        elif f[:1] in (["50%"], ["99%"]):
            setattr(r, "p" + f[0][:2], to_ms(f[1]))
        elif f[1:3] == ["requests", "in"]:
            requests = int(f[0])
        elif f[:1] == ["Non-2xx"]:
            bad += int(f[-1])
        elif f[:2] == ["Socket", "errors:"]:  # connect N, read N, write N, timeout N
            bad += sum(int(x) for x in f[3:10:2])
    check(f"web {name}", bad, 0, f"{requests} requests, failed or not 2xx: ")
    write(f"{d}/{name}.json", json.dumps(dict(url=url, requests=requests, rps=r.rps, p50_ms=r.p50, p99_ms=r.p99)))
    raw(f"web.{name}", f"{d}/{name}.json")
    return r

def wrk_ceiling(d, name, body, path):
    """wrk against bench/http_ceiling answering with the bytes of the file BODY."""
    port = free_port()
    hc = spawn([f"{BIN}/http_ceiling", str(port), body], f"{d}/{name}.out")
    if not wait_until(10, lambda: listening(port)):
        fail(f"web {name}", "http_ceiling did not listen")
    r = wrk(d, name, f"http://127.0.0.1:{port}{path}")
    stop(hc.pid)
    return r

def fetch(url, path):
    try:
        with urllib.request.urlopen(url, timeout=30) as answer, open(path, "wb") as f:
            f.write(answer.read())
    except OSError as e:
        fatal("web", f"GET {url} failed: {e}")
    return read(path)

@bench
def web():
    """GET /api/v1/alerts?limit=100 and / with web_alerts alerts stored, under wrk -c 32,
    alone and while `warden sim` publishes at half the FlatBuffers ceiling; beside a bare
    evhttp server answering with the same bytes."""
    fb, d, fig, bare = needs("ingest_flatbuffers"), scratch("web"), partial(figure, "web"), "bare evhttp"
    db = f"{d}/warden.db"
    say(f"web: {S.web_alerts} alerts of {S.web_devices} devices, written into Warden's tables")
    params = [f".parameter set @{k} {v}" for k, v in (("n", S.web_alerts), ("devices", S.web_devices),
                                                      ("active", 500), ("now", f"{int(time.time())}000"))]
    if not (run("web", [WARDEN, "db", "migrate", "--db", db], f"{d}/migrate.log") and
            run("web", ["sqlite3", "-batch", db, *params, ".read bench/web_fill.sql"], f"{d}/fill.log")):
        return
    check("web alerts-stored", sq(db, "SELECT count(*) FROM alerts"), S.web_alerts, "alerts rows ")
    with lab(f"{d}/broker", d) as l:
        if not wait_until(20, lambda: listening(l.web_port)):
            fatal("web", "the web server did not listen")
        base = f"http://127.0.0.1:{l.web_port}"
        api = f"{base}/api/v1/alerts?limit=100"
        # The answer is what it claims: 100 alerts, the newest first, and a next page.
        answer, page = json.loads(fetch(api, f"{d}/api.json")), fetch(f"{base}/", f"{d}/overview.html")
        check("web api-items", len(answer["items"]), 100, "alerts in the API's answer ")
        check("web api-newest", answer["items"][0]["alert_id"], sq(db, "SELECT max(alert_id) FROM alerts"),
              "first alert_id ")
        check("web api-cursor", int(answer.get("next_cursor") is not None), 1, "next_cursor set ")
        check("web overview-page", sum("<h1>Overview</h1>" in x for x in page.splitlines()), 1, "overview heading ")
        api_bytes, page_bytes = os.path.getsize(f"{d}/api.json"), os.path.getsize(f"{d}/overview.html")

        say(f"web: the ceiling (bare evhttp, the same {api_bytes} and {page_bytes} bytes), "
            f"wrk -c 32 {S.wrk_seconds}s each")
        c_api = wrk_ceiling(d, "ceiling-api", f"{d}/api.json", "/api/v1/alerts")
        c_page = wrk_ceiling(d, "ceiling-overview", f"{d}/overview.html", "/")
        say("web: Warden alone")
        r = wrk(d, "api-alone", api)
        fig(f"GET /api/v1/alerts?limit=100 ({api_bytes} bytes), alone", r.rps, "req/s", bare, c_api.rps)
        fig("the same, p50", r.p50, "ms", bare, c_api.p50)
        fig("the same, p99", r.p99, "ms", bare, c_api.p99)
        # Warden keeps the last page while the database is unchanged; with a page no request
        # asked for before (bench/web_fresh.lua), every answer is written anew.
        r = wrk(d, "api-fresh-alone", api, "bench/web_fresh.lua")
        fig("the same, each request a page not asked before (written anew), alone", r.rps, "req/s", bare, c_api.rps)
        fig("the same, p99", r.p99, "ms", bare, c_api.p99)
        r = wrk(d, "overview-alone", f"{base}/")
        fig(f"GET / (overview, {page_bytes} bytes), alone", r.rps, "req/s", bare, c_page.rps)
        fig("the same, p50", r.p50, "ms", bare, c_page.p50, "value<50")

        rate, secs = int(fb.ceiling / 2), 3 * S.wrk_seconds + 4
        say(f"web: Warden while ingesting {rate} msg/s (half the FlatBuffers ceiling) for {secs}s")
        before = int(sq(db, MSGS_SQL))
        sim = spawn(sim_args(l.port, "flatbuffers", duration=secs, rate=rate), f"{d}/sim.json")
        time.sleep(2)  # the load under way before the first wrk (a warm-up, not a wait for an event)
        api_r, fresh_r = wrk(d, "api-ingest", api), wrk(d, "api-fresh-ingest", api, "bench/web_fresh.lua")
        page_r = wrk(d, "overview-ingest", f"{base}/")
        if sim.wait() != 0:
            fail("web", "warden sim failed: " + tail(f"{d}/sim.err"))
        stop(sim.pid)
        sim = jget(f"{d}/sim.json")
        stored("web", db, before + sim["published"])
    check("web ingest-stored", int(sq(db, MSGS_SQL)) - before, sim["published"],
          "messages Warden counted during the load ")
    fig(f"GET /api/v1/alerts?limit=100, while ingesting {sim['rate']:.0f} msg/s", api_r.rps, "req/s", bare,
        c_api.rps, "value>=3000")
    fig("the same, p50", api_r.p50, "ms", bare, c_api.p50)
    fig("the same, p99", api_r.p99, "ms", bare, c_api.p99, "value<50")
    fig("the same, each request a page not asked before (written anew), while ingesting", fresh_r.rps, "req/s",
        bare, c_api.rps)
    fig("the same, p99", fresh_r.p99, "ms", bare, c_api.p99)
    fig("GET / (overview), while ingesting", page_r.rps, "req/s", bare, c_page.rps)
    fig("the same, p50", page_r.p50, "ms", bare, c_page.p50, "value<50")
    raw("web.sim", f"{d}/sim.json")
    remove_db(db)


# ---- the lab hub plugin --------------------------------------------------------------------

def hub_run(mode, rnd, d, env):
    """One hub_bench run against a fresh broker, with the plugin (ENV) or without it: its
    summary with the broker's CPU microseconds a message, or None."""
    hr, name, want = f"{d}/{mode}-{rnd}", f"hub-plugin {mode}-{rnd}", S.hub_devices * S.hub_per_device
    with lab(hr, env=env) as l:
        before = cpu_ticks(l.broker)
        run(name, [f"{BIN}/hub_bench", str(l.port), f"{d}/warden-hub.keys", str(S.hub_devices),
                   str(S.hub_per_device), str(HUB_BYTES), str(HUB_WINDOW)], f"{hr}.out")
        ticks = cpu_ticks(l.broker) - before
    res = jget(f"{hr}.out")
    check(f"{name} received", f"{res.get('received', 0)}/{res.get('duplicates')}", f"{want}/0",
          "the service subscriber received/duplicates ")
    if env:  # the plugin decided every login: it loaded the key store and refused nobody
        log = read(f"{hr}/mosquitto.log").splitlines()
        check(f"{name} plugin-loaded", sum("warden_hub: key store loaded" in x for x in log), 1,
              "key store loads in the broker's log ")
        check(f"{name} refusals", sum("warden_hub: refused" in x for x in log), 0, "refusals in the broker's log ")
    if not res:
        return None
    cpu = num(ticks * 1000000 / os.sysconf("SC_CLK_TCK") / want)
    write(f"{hr}.json", tail(f"{hr}.out", 1).rstrip()[:-1] + f', "broker_cpu_us_per_msg": {cpu}}}')
    raw(f"hub_plugin.{mode}-{rnd}", f"{hr}.json")
    return jget(f"{hr}.json")

@bench
def hub_plugin():
    """What the lab hub plugin (hub/plugin.c) costs the broker: bench/hub_bench.c (devices
    logged in as on IoT Hub, publishing QoS 1 to a service subscriber) against a fresh broker
    with the plugin and one without it, the same credentials sent to both, in hub_rounds
    rounds of alternating order. The first run of a round tends to be the faster (by up to
    10% on a busy machine), so the full run has an even number: each order as often."""
    d, fig = scratch("hub-plugin"), partial(figure, "hub plugin")
    hub_so = os.path.join(HERE, B, "warden_hub.so")
    for f in (hub_so, f"{BIN}/hub_bench"):
        if not os.path.exists(f):
            return fail("hub-plugin", f"{f} is missing: run make B={B} all bench")
    # The devices, registered as `warden registry import` registers them; the key store it
    # writes beside the database is what the plugin reads.
    key = lambda: base64.b64encode(os.urandom(32)).decode()
    write(f"{d}/registry.json", json.dumps([{"deviceId": "bench-%03d" % i, "authentication": {
        "type": "sas", "symmetricKey": {"primaryKey": key()}}} for i in range(1, S.hub_devices + 1)]))
    if not run("hub-plugin", [WARDEN, "registry", "import", f"{d}/registry.json", "--db", f"{d}/warden.db"],
               f"{d}/registry.log"):
        return
    check("hub-plugin registered", sum(x.startswith("device") for x in read(f"{d}/warden-hub.keys").splitlines()),
          S.hub_devices, "devices in the key store ")
    say(f"hub plugin: {S.hub_devices} devices x {S.hub_per_device} QoS 1 messages of {HUB_BYTES} bytes, "
        f"with and without the plugin, {S.hub_rounds} rounds")
    envs = {"plugin": dict(os.environ, HUB_PLUGIN=hub_so, HUB_KEYS=f"{d}/warden-hub.keys"), "none": None}
    runs = {"plugin": {}, "none": {}}
    for rnd in range(1, S.hub_rounds + 1):
        for mode in ("plugin", "none") if rnd % 2 else ("none", "plugin"):
            runs[mode][rnd] = hub_run(mode, rnd, d, envs[mode])
    med = {(m, k): num(statistics.median(r[k] for r in runs[m].values() if r))
           for m in runs for k in ("rate", "broker_cpu_us_per_msg")}
    what = f"{S.hub_devices} devices x {S.hub_per_device} msgs of {HUB_BYTES} bytes, QoS 1, median of {S.hub_rounds}"
    fig(f"messages/s through the lab hub plugin, {what}", med["plugin", "rate"], "msg/s",
        "the same broker without the plugin", med["none", "rate"], "ratio>=0.9")
    fig("broker CPU per message with the plugin", med["plugin", "broker_cpu_us_per_msg"], "us", "without the plugin",
        med["none", "broker_cpu_us_per_msg"])
    # The two runs of a round are next to each other in time: their ratio suffers less from
    # load that comes and goes than the ratio of the medians.
    pairs = [(runs["plugin"][r], runs["none"][r]) for r in runs["plugin"]]
    fig("rate with / without the plugin, median of the rounds' own ratios",
        num(statistics.median(num(p["rate"] / n["rate"]) if p and n else 0 for p, n in pairs)), "x")


# ---- notifications to Alertmanager ---------------------------------------------------------

NOTIFY_BATCH = 64                 # alerts a POST: Warden's (notify/notify.h) and Prometheus 2.x's
NOTIFY_DEADLINE = 60              # seconds the issue allows a fleet-wide event to reach Alertmanager
NOTIFY_RESEND, NOTIFY_LEASE_MS = "PT5M", 4 * 300000  # nothing re-sent during a run; endsAt's lease
# The shipped grouping (conf/alertmanager.yml) and a receiver that sends nothing: what is
# measured is Alertmanager's ingest, not a webhook's.
AM_CONFIG = """route:
  receiver: 'null'
  group_by: ['alertname', 'device_id']
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: 'null'"""
# A threat-list hit as the evaluator writes it (common/catalog.c, evaluator/alerts.c).
TI_TYPE, TI_TITLE, TI_SEVERITY = "IoT_TiConnection", "Suspicious IP address communication", "Medium"
TI_FIX = ("Find the process on the device that opened the connection and whether the device was tampered "
          "with. Block the address at the lab firewall, and check other devices for traffic to it "
          "(sql/examples/devices_that_talked_to_ip.sql).")

def notify_alerts(n, now_ms):
    """The rows of N alerts opened by one fleet-wide event (N devices on a threat list), in
    the columns of evaluator/alerts.c's ALERT_INSERT, status aside."""
    rows = []
    for i in range(n):
        dev, ip = "bench-%05d" % i, "203.0.113.%d" % (i % 254 + 1)
        desc = (f"Device {dev} exchanged TCP traffic with {ip}:443, an address on the threat-intelligence "
                f'list "bench" (category botnet).')
        props = json.dumps(dict(remote_ip=ip, remote_port=443, protocol="TCP", direction="Outbound",
                                list="bench", category="botnet"))
        rows.append((TI_TYPE, f"{dev}/{ip}", TI_TITLE, TI_SEVERITY, dev, "bench-hub", now_ms, now_ms, 1,
                     desc, TI_FIX, props))
    return rows

def iso_ms(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)

def am_postable(row, ref, now_ms, base):
    """ROW as notify/ampayload.c's am_item_json posts an open alert whose device has no row
    (so no security_group label)."""
    typ, key, title, sev, dev, _, start, end, count, desc, rem, _ = row
    url = f"{base}/alerts/{ref}"
    return {"labels": {"alertname": typ, "severity": sev.lower(), "device_id": dev, "alert_key": key,
                       "kind": "alert", "source": "warden"},
            "annotations": {"summary": f"{title}: {dev}", "description": desc, "remediation": rem,
                            "warden_url": url, "status": "Active", "count": str(count), "last_seen": iso_ms(end)},
            "startsAt": iso_ms(start), "endsAt": iso_ms(max(now_ms, start) + NOTIFY_LEASE_MS), "generatorURL": url}

def am_ready(url):
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False

def am_listed(url):
    """The Warden alerts Alertmanager lists (GET /api/v2/alerts, source="warden"); [] without an answer."""
    try:
        with urllib.request.urlopen(url + "/api/v2/alerts?filter=source%3D%22warden%22", timeout=30) as r:
            listed = json.loads(r.read())
    except (OSError, ValueError):
        return []
    return listed if isinstance(listed, list) else []

@contextlib.contextmanager
def alertmanager(d):
    """A fresh prometheus-alertmanager for the with block (its url and pid): clustering off
    (nothing to gossip with), its data in D, on a free port (a port taken meanwhile: another)."""
    write(f"{d}/am.yml", AM_CONFIG)
    for _ in range(5):
        url = f"http://127.0.0.1:{free_port()}"
        p = spawn(["prometheus-alertmanager", f"--config.file={d}/am.yml", f"--storage.path={d}/data",
                   f"--web.listen-address={url[len('http://'):]}", "--cluster.listen-address="],
                  f"{d}/am.log", log=True)
        if wait_until(60, lambda: not alive(p.pid) or am_ready(url)) and alive(p.pid):
            break
        stop(p.pid)
    else:
        fatal("notify", "cannot start prometheus-alertmanager: " + tail(f"{d}/am.log"))
    try:
        yield NS(url=url, pid=p.pid)
    finally:
        stop(p.pid)

def wait_listed(url, n, t0):
    """GET /api/v2/alerts until it lists N alerts, NOTIFY_DEADLINE seconds after T0 at most:
    (seconds from T0 to the end of the GET that listed them all, the last listing)."""
    while True:
        listed = am_listed(url)
        secs = time.monotonic() - t0
        if len(listed) >= n or secs > NOTIFY_DEADLINE:
            return secs, listed
        time.sleep(0.05)

def notify_ceiling(d, rows):
    """The plain client: the same alerts as Warden's JSON, 64 a POST, one request at a time and a
    connection each (urllib's Connection: close, as Warden's client), the bodies made before
    the clock starts: (seconds from the first POST to all listed, to the last POST answered,
    the listing, Alertmanager's CPU seconds meanwhile)."""
    now = int(time.time() * 1000)
    alerts = [am_postable(r, i + 1, now, "http://127.0.0.1:8080") for i, r in enumerate(rows)]
    bodies = [json.dumps(alerts[i:i + NOTIFY_BATCH], separators=(",", ":")).encode()
              for i in range(0, len(alerts), NOTIFY_BATCH)]
    with alertmanager(d) as am:
        cpu, t0 = cpu_ticks(am.pid), time.monotonic()
        for body in bodies:
            post = urllib.request.Request(am.url + "/api/v2/alerts", data=body,
                                          headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(post, timeout=30) as r:
                    r.read()
            except OSError as e:
                fatal("notify ceiling", f"POST /api/v2/alerts: {e}")
        posted = time.monotonic() - t0
        secs, listed = wait_listed(am.url, len(rows), t0)
        return secs, posted, listed, (cpu_ticks(am.pid) - cpu) / os.sysconf("SC_CLK_TCK")

def notify_open(db, rows):
    """ROWS opened in one transaction, as evaluator/alerts.c's alert_open opens an alert (its
    row, then its transition to Active, whose trigger in sql/007_notify.sql queues it for
    every Alertmanager): the commit's time, monotonic and wall clock (ms)."""
    with contextlib.closing(sqlite3.connect(db, timeout=30, isolation_level=None)) as con:
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT INTO alerts (alert_type, alert_key, display_name, severity, device_id, hub, status, "
                        "start_ms, end_ms, count, description, remediation, extended_properties) "
                        "VALUES (?, ?, ?, ?, ?, ?, 'Active', ?, ?, ?, ?, ?, ?)", rows)
        con.execute("INSERT INTO alert_transitions (alert_id, at_ms, from_status, to_status) "
                    "SELECT alert_id, start_ms, NULL, 'Active' FROM alerts ORDER BY alert_id")
        con.execute("COMMIT")
        return time.monotonic(), int(time.time() * 1000)

def queue_samples(db, t0):
    """notify_queue's rows every 100 ms from T0 until it is empty (NOTIFY_DEADLINE at most)."""
    samples = []
    while time.monotonic() < t0 + NOTIFY_DEADLINE:
        q = sq(db, "SELECT count(*) FROM notify_queue")
        if q != "":
            samples.append(int(q))
            if samples[-1] == 0:
                break
        time.sleep(0.1)
    return samples

def am_shape(listed):
    """The label and annotation names of the first alert listed, as text ('' with none)."""
    return " ".join(sorted(listed[0]["labels"]) + ["|"] + sorted(listed[0]["annotations"])) if listed else ""

@bench
def notify():
    """A fleet-wide event: notify_alerts alerts opened in one transaction while `warden run`
    sends to a real Alertmanager, from the commit until GET /api/v2/alerts lists them all;
    beside a plain client posting the same alerts to a fresh Alertmanager of its own."""
    d, fig, n = scratch("notify"), partial(figure, "notify"), S.notify_alerts
    rows = notify_alerts(n, int(time.time() * 1000))
    say(f"notify: the ceiling (a plain client, {NOTIFY_BATCH} a POST), {n} alerts into a fresh Alertmanager")
    c_secs, c_posted, c_listed, c_cpu = notify_ceiling(scratch("notify/am-ceiling"), rows)
    check("notify ceiling-listed", len(c_listed), n, "alerts the plain client's Alertmanager lists ")
    say(f"notify: warden run, {n} alerts opened in one transaction")
    args = ["--evaluator.interval=PT1H", f"--notify.resend={NOTIFY_RESEND}"]  # neither moves during the run
    with alertmanager(scratch("notify/am-warden")) as am, \
            lab(f"{d}/broker", d, args=args + [f"--notify.alertmanager.urls={am.url}"]) as l:
        # The evaluator's first pass and the sender's first round (the resend at start, with
        # nothing to send, then the read-back) are behind us: what follows is the queue's.
        ready = ("SELECT (SELECT value FROM evaluator_state WHERE key = 'passes_total') >= 1 "
                 "AND (SELECT polled_ms FROM notify_targets) IS NOT NULL")
        if not wait_until(30, lambda: sq(l.db, ready) == "1"):
            fatal("notify warden-ready", "no evaluator pass or Alertmanager poll: " + tail(f"{d}/warden.log"))
        cpu = (cpu_ticks(am.pid), cpu_ticks(l.warden.pid))
        t0, wall0 = notify_open(l.db, rows)
        samples = queue_samples(l.db, t0)
        secs, listed = wait_listed(am.url, n, t0)
        am_cpu, w_cpu = ((cpu_ticks(p) - c) / os.sysconf("SC_CLK_TCK") for p, c in zip((am.pid, l.warden.pid), cpu))
    # Warden stopped: its senders flushed their counters.
    sent, errors, dropped, requests = sq_row(l.db, "SELECT sent, errors, dropped, latency_count FROM notify_counters") \
        or (0, 0, 0, 0)
    delivered, last_ms = sq_row(l.db, "SELECT count(*), max(firing_ms) FROM notify_deliveries "
                                      "WHERE firing_ms IS NOT NULL") or (0, None)
    # A batch's alerts are noted in one transaction with one time: no group of a time larger
    # than 64 means no batch was (two batches within a millisecond would only overstate it).
    largest = int(sq(l.db, "SELECT max(c) FROM (SELECT count(*) AS c FROM notify_deliveries GROUP BY firing_ms)") or 0)
    check("notify listed", len(listed), n, f"alerts Alertmanager lists within {NOTIFY_DEADLINE} s of the commit ")
    check("notify listed-keys", len({a["labels"].get("alert_key") for a in listed} & {r[1] for r in rows}), n,
          "distinct alert_key labels listed that Warden opened ")
    check("notify labels-shape", am_shape(listed), am_shape(c_listed), "label | annotation names, as the ceiling's: ")
    check("notify sent", sent, n, "notify_counters.sent ")
    check("notify errors", f"{errors}/{dropped}", "0/0", "notify_counters errors/dropped ")
    check("notify batch-average", "yes" if sent <= NOTIFY_BATCH * requests else "no", "yes",
          f"sent <= 64 x requests ({sent} alerts, {requests} requests): ")
    check("notify batch-max", "yes" if largest <= NOTIFY_BATCH else "no", "yes",
          f"most alerts accepted in one millisecond {largest} <= 64: ")
    check("notify delivered", delivered, n, "notify_deliveries rows with a firing time ")
    check("notify queue-bounded", "yes" if samples and max(samples) <= n else "no", "yes",
          f"notify_queue at most {max(samples or [0])} rows in {len(samples)} samples, <= {n}: ")
    check("notify queue-empty", sq(l.db, "SELECT count(*) FROM notify_queue"), 0, "notify_queue rows at the end ")
    write(f"{d}/notify.json", json.dumps(dict(
        alerts=n, seconds=num(secs), ceiling_seconds=num(c_secs), ceiling_posted_s=num(c_posted),
        last_accepted_s=num((last_ms - wall0) / 1000) if last_ms else None, warden_cpu_s=num(w_cpu),
        alertmanager_cpu_s=num(am_cpu), ceiling_alertmanager_cpu_s=num(c_cpu),
        sent=sent, requests=requests, errors=errors, queue_max=max(samples or [0]), queue_samples=len(samples))))
    raw("notify", f"{d}/notify.json")
    fig(f"alerts/s, {n} opened in one transaction, commit -> all listed by GET /api/v2/alerts", num(n / secs),
        "alerts/s", f"a plain client, {NOTIFY_BATCH} a POST", num(n / c_secs), "ratio>=0.5")
    fig("seconds from the commit to all listed", num(secs), "s", "the plain client", num(c_secs),
        f"value<{NOTIFY_DEADLINE}")
    if last_ms:
        fig("the last alert accepted (notify_deliveries.firing_ms), after the commit", num((last_ms - wall0) / 1000),
            "s", "the plain client's last POST answered", num(c_posted))
    fig("Alertmanager's CPU time, commit -> all listed", num(am_cpu), "s", "with the plain client", num(c_cpu))
    fig("Warden's CPU time, commit -> all listed", num(w_cpu), "s")
    fig("alerts a request (notify_counters sent / latency_count)", num(sent / requests) if requests else 0, "alerts")
    fig("outbox rows, the most sampled every 100 ms", max(samples or [0]), "rows", "alerts opened", n)
    remove_db(l.db)


# ---- reporting -----------------------------------------------------------------------------

def fmt(v):
    if v is None:
        return "-"
    return "{:,.0f}".format(v) if v >= 1000 else "%.0f" % v if v >= 100 else "%.3g" % v

def target_text(t):
    if not t:
        return "-"
    kind, x = split_target(t)
    return TARGETS[kind][0].format(x)

def table(markdown):
    """The table, for people: every figure, its ceiling, the ratio, the target."""
    rows = [["benchmark", "figure", "Warden", "ceiling", "ratio", "target", "result"]]
    rows += [[f.bench, f.name, f"{fmt(f.value)} {f.unit}", f"{f.ceiling_label} {fmt(f.ceiling)}" if f.ceiling_label
              else "-", "-" if f.ratio is None else "%.2f" % f.ratio, target_text(f.target), f.result]
             for f in FIGURES]
    if markdown:
        line = lambda r: "| " + " | ".join(r) + " |"
        return "\n".join([line(rows[0]), "|---|---|---:|---:|---:|---|---|"] + [line(r) for r in rows[1:]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)

def loadavg():
    return " ".join(read("/proc/loadavg").split()[:3])

def words(*args):
    """The words of a command's first line of output ([] if it cannot run)."""
    try:
        return subprocess.run(args, capture_output=True, text=True).stdout.split("\n")[0].split()
    except OSError:
        return []

def machine():
    info = lambda path, key: next((l.split(":", 1)[1].strip() for l in read(path).splitlines() if l.startswith(key)),
                                  "0")
    commit = (words("git", "rev-parse", "--short", "HEAD") or ["unknown"])[0]
    if subprocess.run(["git", "diff", "--quiet", "HEAD"], capture_output=True).returncode != 0:
        commit += "+changes"
    mosq, lite = words("mosquitto", "-h") + ["?"] * 3, words("sqlite3", "--version") + ["?"]
    return NS(cpu=info("/proc/cpuinfo", "model name"), mem_mib=int(info("/proc/meminfo", "MemTotal").split()[0]) // 1024,
              nproc=len(os.sched_getaffinity(0)), commit=commit, load_start=loadavg(),
              date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), versions=f"{mosq[0]} {mosq[2]}, SQLite {lite[0]}")

def write_json(path, m, quick):
    q = lambda s: "null" if s is None else json.dumps(s, ensure_ascii=False)
    g = lambda v: "null" if v is None else "%.6g" % v
    figs = ['    {"benchmark": %s, "figure": %s, "value": %s, "unit": %s, "ceiling": %s, "ceiling_value": %s, '
            '"ratio": %s, "target": %s, "result": %s}' % (q(f.bench), q(f.name), g(f.value), q(f.unit),
            q(f.ceiling_label), g(f.ceiling), g(f.ratio), q(f.target), q(f.result)) for f in FIGURES]
    checks = ['    {"check": %s, "result": %s, "detail": %s}' % (q(n), q(r), q(d)) for r, n, d in CHECKS]
    block = lambda name, items, brackets: f'  "{name}": {brackets[0]}\n' + ",\n".join(items) + f"\n  {brackets[1]}"
    write(path, f'{{\n  "date": {q(m.date)},\n  "commit": {q(m.commit)},\n  "quick": {str(quick).lower()},\n'
          f'  "machine": {{"nproc": {m.nproc}, "cpu": {q(m.cpu)}, "memory_mib": {m.mem_mib}, "software": '
          f'{q(m.versions)},\n              "loadavg_start": {q(m.load_start)}, "loadavg_end": {q(m.load_end)}}},\n'
          f'  "seconds": {m.elapsed},\n' + ",\n".join([block("figures", figs, "[]"), block("checks", checks, "[]"),
          block("raw", [f"    {q(k)}: {v}" for k, v in RAW], "{}")]) + "\n}")

def write_md(path, m, cmdline, nfail):
    write(path, f"""# Warden benchmarks

{m.date}, commit {m.commit}, `{cmdline}`.
Machine: {m.nproc} cores, {m.cpu}, {m.mem_mib} MiB of memory; {m.versions};
load average {m.load_start} at the start, {m.load_end} at the end; the run took {m.elapsed} s.

{table(markdown=True)}

Ratios are Warden's figure divided by the ceiling measured in the same run
(for storage: bytes per flow over the bytes a flow takes on the wire).
Checks: {len(CHECKS) - nfail} passed, {nfail} failed
(counts reported against the rows in the database; see latest.json).
What each figure measures and how to reproduce it: bench/README.md.""")

def cleanup(keep):
    for pid in list(PROCS):
        stop(pid)
    if keep or os.environ.get("KEEP"):
        say(f"kept {T}")
    else:
        shutil.rmtree(T, ignore_errors=True)

def usage_error(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(2)

def main():
    global S, T
    p = argparse.ArgumentParser(prog="python3 bench/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes, seconds (what `make test` runs)")
    p.add_argument("bench", nargs="*", help="one of: " + " ".join([*BENCHES, *EXTRA]))
    args = p.parse_args()
    os.chdir(HERE)
    for b in args.bench:
        if b not in BENCHES and b not in EXTRA:
            usage_error(f"unknown benchmark {b}")
    for f in [WARDEN] + [f"{BIN}/{t}" for t in ("null_sub", "json_ceiling", "sqlite_ceiling", "latency_pub",
                                                 "storage_fill", "http_ceiling", "eval_bench", "intel_bench")]:
        if not os.access(f, os.X_OK):
            usage_error(f"{f} is missing: run make B={B} bench")
    for t in ("mosquitto", "sqlite3", "wrk", "prometheus-alertmanager"):
        if not shutil.which(t):
            usage_error(f"{t} is not installed")
    S = NS(**{k: v[args.quick] for k, v in SIZES.items()})
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    T = tempfile.mkdtemp(prefix="warden-bench.", dir="/tmp")
    os.chmod(T, 0o755)  # started as root, the broker drops to the mosquitto user: it must reach T
    started, m, nfail = time.time(), machine(), 1
    if float(m.load_start.split()[0]) > m.nproc / 2:
        say(f"the machine is busy (load average {m.load_start} on {m.nproc} cores): expect low figures")
    try:
        for b in args.bench or BENCHES:
            needs(b)
        m.load_end, m.elapsed = loadavg(), int(time.time() - started)
        full = not args.quick and not args.bench
        out = "bench/results" if full else f"{B}/bench-results"
        os.makedirs(out, exist_ok=True)
        nfail = sum(c[0] == "FAIL" for c in CHECKS)
        write_json(f"{out}/latest.json", m, args.quick)
        write_md(f"{out}/latest.md", m, "make bench" if full else " ".join([p.prog] + sys.argv[1:]), nfail)
        print(f"\nWarden benchmarks, {m.date}, {m.nproc} cores, {m.cpu}{', quick sizes' if args.quick else ''}")
        print(table(markdown=False))
        print(f"\nchecks: {len(CHECKS) - nfail} ok, {nfail} FAIL; {m.elapsed} s; load average {m.load_start} -> "
              f"{m.load_end};\nresults in {out}/latest.json and latest.md")
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        cleanup(keep=nfail > 0)
    if nfail:
        print(f"FAIL: {nfail} checks failed")
        sys.exit(1)

if __name__ == "__main__":
    main()
