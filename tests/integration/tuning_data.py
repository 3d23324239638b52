#!/usr/bin/env python3
"""Seven days of a security group's history, written straight into a Warden
database, and what its baseline must be, worked out here from the generator's
own model (not from the database), so the test holds Warden's figures to an
independent computation.

  tuning_data.py seed DB TO_MS EXPECTED_JSON
  tuning_data.py compare DB BACKTEST_JSON current|proposed

compare: the window and allow-list alerts of DB (what a live evaluator raised)
against a backtest's alerts of the current rules (removed + unchanged) or of
the document (added + unchanged): key, first and last pass, passes out of
range, resolution. Prints "same N", or each difference and exits 1.

The database must be migrated (warden db migrate). The fleet: 20 devices of
group "lab" and one of another group, reporting 1-minute count buckets (as
retention.fine leaves them) with a daily pattern of device-to-cloud messages:
quiet at night, busier from 08:00 to 18:00, a little per-device jitter. On
day 5, dev-07 floods for two hours (its device-to-cloud messages times 40),
and a threat-intelligence alert of dev-07 covers the flood, as a compromised
device talking to a listed address would leave one. For the newest day,
raw flows: every device reports a pack every 10 minutes, to a few endpoints.

Percentiles are by nearest rank: the smallest value with at least p% of the
values at or below it. Windows tile the span back from TO_MS (to = the newest
pass's window end, offset 0, interval PT1M); a window (lo, hi] holds the
buckets that start in it.
"""
import json
import math
import sqlite3
import sys

MIN = 60000
DAY = 86400000
WINDOW = 15 * MIN
SPAN = 7 * DAY
DEVICES = [f"dev-{i:02d}" for i in range(20)]
BAD = "dev-07"


def d2c(dev_index, t):
    """Device-to-cloud messages of one device in the minute starting at t."""
    hour = (t // 3600000) % 24
    base = 12 if 8 <= hour < 18 else 6
    jitter = (dev_index * 7 + t // MIN) % 3  # 0, 1 or 2, deterministic
    return base + jitter


def pct(values, p):
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered) - 1e-9))
    return ordered[rank - 1]


def seed(db_path, to_ms, out_path):
    frm = to_ms - SPAN
    bad_lo = frm + 4 * DAY + 10 * 3600000  # day 5, 10:00
    bad_hi = bad_lo + 2 * 3600000
    db = sqlite3.connect(db_path)
    for i, dev in enumerate(DEVICES + ["other-00"]):
        db.execute("INSERT INTO devices (id, device_id, hub, security_group, first_seen_ms, "
                   "last_seen_ms) VALUES (?, ?, 'lab-hub', ?, ?, ?)",
                   (i + 1, dev, "lab" if dev in DEVICES else "other", frm - DAY, to_ms))
    rows, series = [], {dev: {} for dev in DEVICES}
    for i, dev in enumerate(DEVICES + ["other-00"]):
        for t in range(frm - DAY, to_ms + 10 * MIN, MIN):  # a day before and after the span too
            v = d2c(i, t)
            if dev == BAD and bad_lo <= t < bad_hi:
                v *= 40
            if dev == "other-00":
                v *= 100  # another group's device: never part of lab's baseline
            rows.append((t, i + 1, 60, v, 1))
            if dev in series:
                series[dev][t] = v
    db.executemany("INSERT INTO counts (bucket_ms, dev, bucket_s, d2c_messages, security_messages) "
                   "VALUES (?, ?, ?, ?, ?)", rows)
    # The threat-intelligence hit that the flood left (an event alert: first to last occurrence).
    db.execute("INSERT INTO alerts (alert_type, alert_key, display_name, severity, device_id, hub, "
               "status, start_ms, end_ms, count, description, remediation) VALUES "
               "('IoT_TiConnection', 'dev-07/203.0.113.9', 'Suspicious IP address communication', "
               "'Medium', 'dev-07', 'lab-hub', 'Resolved', ?, ?, 40, 'seeded', 'seeded')",
               (bad_lo + 5 * MIN, bad_hi - 5 * MIN))
    # Warden ingested all along but for day 4 (down for a day): lows are not judged then.
    db.execute("INSERT INTO ingest_runs (started_ms, last_ms) VALUES (?, ?), (?, ?)",
               (frm - DAY, frm + 3 * DAY, frm + 4 * DAY, to_ms + 3600000))
    # Raw flows, for the newest day: distinct (protocol, local and remote address and port).
    db.execute("INSERT INTO addrs (id, ip, ip_blob) VALUES (1, '10.0.0.5', x'0a000005'), "
               "(2, '192.0.2.10', x'c000020a'), (3, '198.51.100.7', x'c6336407')")
    flows = {dev: [] for dev in DEVICES}
    pack_id = 1
    for i, dev in enumerate(DEVICES):
        for t in range(to_ms - DAY + 7000, to_ms + 7000, 10 * MIN):
            lport = 40000 + (t // (30 * MIN)) % 4  # a new local port every half hour
            extra = [[0, 1, 50000 + i, 3, 8883, 10, 10, None]] if (t // (10 * MIN)) % 6 == i % 6 else []
            pack = [[0, 1, lport, 2, 443, 100, 200, None], [4, 1, 5353, 2, 53, 1, 1, None]] + extra
            db.execute("INSERT INTO flow_pack (id, recv_ms, dev, n, flows) VALUES (?, ?, ?, ?, ?)",
                       (pack_id, t, i + 1, len(pack), json.dumps(pack, separators=(",", ":"))))
            pack_id += len(pack)
            for f in pack:
                flows[dev].append((t - t % 10000, (f[0] >> 2, f[1], f[2], f[3], f[4])))
    db.commit()

    expected = {"windows": {}, "flows": {}}
    tiles = SPAN // WINDOW
    kept, every, apart = [], {}, 0
    for dev in DEVICES:
        every[dev] = []
        for k in range(tiles):
            lo = frm + k * WINDOW
            hi = lo + WINDOW
            v = sum(series[dev][t] for t in range(lo + MIN, hi + 1, MIN))
            # The alert covers [start, end]; a window (lo, hi] overlaps when lo < end and start < hi.
            out = dev == BAD and lo < bad_hi - 5 * MIN and bad_lo + 5 * MIN < hi
            every[dev].append(v)
            if out:
                apart += 1
            else:
                kept.append(v)
    lo_s, hi_s = pct(kept, 0.5), pct(kept, 99.5)
    zero_share = sum(1 for v in kept if v == 0) / len(kept)
    smin = 0 if zero_share >= 0.01 else max(0, lo_s - math.ceil(0.25 * lo_s))
    smax = max(hi_s + math.ceil(0.25 * hi_s), hi_s + 1)
    flagged = {dev: sum(1 for v in every[dev] if v < smin or v > smax) for dev in DEVICES}
    expected["windows"] = {
        "p1": pct(kept, 1), "p5": pct(kept, 5), "p50": pct(kept, 50), "p95": pct(kept, 95),
        "p99": pct(kept, 99), "max": max(kept), "windows": len(kept), "devices": len(DEVICES),
        "excluded_windows": apart, "suggested_min": smin, "suggested_max": smax,
        "flagged_windows": sum(flagged.values()),
        "flagged_devices": sum(1 for n in flagged.values() if n > 0),
        "flagged_device": [d for d, n in flagged.items() if n > 0],
        "with_alerted_max": max(max(v) for v in every.values()),
        "with_alerted_p99": pct([v for vs in every.values() for v in vs], 99),
    }
    # Distinct flows a window, where raw flows are kept (retention.raw P2D: the whole day seeded).
    distinct = []
    for dev in DEVICES:
        for k in range(tiles):
            lo = frm + k * WINDOW
            hi = lo + WINDOW
            if lo < to_ms - 2 * DAY:
                continue
            distinct.append(len({key for b, key in flows[dev] if lo < b <= hi}))
    expected["flows"] = {"p50": pct(distinct, 50), "max": max(distinct), "windows": len(distinct),
                         "zero_share": round(sum(1 for v in distinct if v == 0) / len(distinct), 4)}
    with open(out_path, "w") as f:
        json.dump(expected, f, indent=1)


def iso_ms(s):
    import datetime
    if s is None:
        return None
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return round(t.timestamp() * 1000)


def compare(db_path, backtest_path, kind):
    db = sqlite3.connect(db_path)
    live = set(db.execute("SELECT alert_key, start_ms, end_ms, count, resolved_ms FROM alerts "
                          "WHERE alert_type LIKE 'IoT_CA_%'"))
    with open(backtest_path) as f:
        bt = json.load(f)
    lists = ("removed", "unchanged") if kind == "current" else ("added", "unchanged")
    replayed = set()
    for rule in bt["rules"]:
        for name in lists:
            for a in rule[name]:
                replayed.add((a["alert_key"], iso_ms(a["first"]), iso_ms(a["last"]), a["windows"],
                              iso_ms(a["resolved"])))
    if live == replayed:
        print(f"same {len(live)}")
        return 0
    for a in sorted(live - replayed):
        print("live only", a)
    for a in sorted(replayed - live):
        print("backtest only", a)
    return 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "seed":
        seed(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        sys.exit(__doc__)
