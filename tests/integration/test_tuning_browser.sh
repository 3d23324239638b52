#!/bin/bash
# The baseline page and the preview of an edited group in a real browser:
# headless Chromium driven through WebDriver (chromedriver, Debian's
# chromium-driver; the client is tests/integration/webdriver.py), on the data
# of test_tuning.sh. Logged in through /login, the browser opens
# /groups/lab/baseline: the histogram is drawn with its two bands and the
# D2C suggested figures are the CLI's `groups baseline --json`. Then, on
# /groups/lab, it types the suggested document into the editor and clicks
# Preview: the D2C rule shows "1 added", dev-07's, and the chart of alerts
# per day; nothing is stored yet. It clicks Save: `warden groups export lab`
# holds the new range. No sanitizer report throughout. Screenshots of the two
# pages are kept in $T/shots (copied to $WARDEN_SCREENSHOTS when set). Last,
# with the tuning worker and its queue held busy, the page answers 503 saying so.
. "$(dirname "$0")/web_lib.sh"
. "$(dirname "$0")/tuning_lib.sh"
if ! command -v chromedriver > /dev/null; then
    fail tuning-browser "chromedriver is not installed (make deps installs chromium-driver)"
    exit 1
fi

tuning_seed tuning-browser-seed
"$WARDEN" groups baseline lab --to "$TO" --json --db "$DB" > "$T/base.json" ||
    { fail tuning-browser-cli; exit 1; }
b() { json "(SELECT value FROM json_each(j, '\$.rules') WHERE value ->> 'rule' = '$D2C') ->> '$1'" \
      "$T/base.json"; }
# e RULE FIELD: a field of one rule of the stored group, as `groups export` gives it.
e() { json "(SELECT value FROM json_each(j, '\$.properties.timeWindowRules') WHERE value ->> 'ruleType' = '$1') ->> '$2'" \
      "$T/export.json"; }

mkdir -p "$T/shots"
start_serve
DRIVER_PORT=$(free_port)
chromedriver --port="$DRIVER_PORT" --allowed-ips=127.0.0.1 > "$T/chromedriver.log" 2>&1 &
PIDS+=($!)
DRIVER_PID=$!

# The browser's part: what it read, as NAME VALUE lines, for the checks below.
SHOTS=$T/shots WARDEN=$WARDEN DB=$DB WEB=$WEB TOKEN=$TOKEN TO=$TO D2C=$D2C DRIVER="http://127.0.0.1:$DRIVER_PORT" \
    timeout 300 python3 - > "$T/browser.out" 2> "$T/browser.err" <<'PY'
import json, os, subprocess, sys
sys.path.insert(0, "tests/integration")
from webdriver import Driver

web, to, d2c, shots = os.environ["WEB"], os.environ["TO"], os.environ["D2C"], os.environ["SHOTS"]
drv = Driver.attach(os.environ["DRIVER"])
s = drv.session()
out = lambda k, v: print(k, str(v).replace("\n", " "), flush=True)
try:
    s.get(f"{web}/login?next=/groups/lab")
    s.find("input[name=token]").send_keys(os.environ["TOKEN"])
    s.find("form[action='/login'] button[type=submit]").click()
    s.wait_url(lambda u: u.endswith("/groups/lab"))
    out("login-lands-on-group", s.url().endswith("/groups/lab"))
    link = s.find("a[href='/groups/lab/baseline']")
    out("baseline-link", link.text())

    s.get(f"{web}/groups/lab/baseline?to={to}")
    rule = s.find(f"#rule-{d2c}", 120)
    out("chart", len(rule.find_all("svg.chart")) >= 1)
    out("bands", f"{len(rule.find_all('svg.chart rect.band-cur'))} {len(rule.find_all('svg.chart rect.band-sug'))}")
    out("histogram-bars", len(rule.find_all("svg.chart rect.bar")) > 3)
    out("legend", "suggested range" in rule.find_all("p.legend")[0].text())
    for k in ("sug-min", "sug-max", "sug-flagged-windows", "sug-flagged-devices"):
        out(k, rule.find_all(f"td.{k}")[0].text())
    out("multiples", len(rule.find_all(".multiple svg.chart")))
    out("multiple-links", " ".join(a.attr("href") for a in rule.find_all(".multiple a")[:1]))
    s.screenshot(f"{shots}/baseline.png")
    s.execute("arguments[0].scrollIntoView()", {"element-6066-11e4-a52e-4f735466cecf": rule.eid})
    s.screenshot(f"{shots}/baseline-d2c.png")
    suggested = s.find("form input[name=doc]").attr("value")
    out("use-button", s.find("button#use").text())

    # A document that does not parse: the editor again, saying why, holding what was typed.
    s.get(f"{web}/groups/lab?to={to}")
    area = s.find("textarea[name=doc]")
    area.clear()
    area.send_keys('{"name": "lab", "properties": {"timeWindowRules": [}}')
    s.find("button#preview").click()
    s.wait_url(lambda u: u.endswith("/groups/lab/preview"))
    out("preview-invalid", s.find("div.error").text().startswith("Not previewed: "))
    out("preview-invalid-keeps-doc", s.find("textarea[name=doc]").prop("value").endswith("[}}"))

    s.get(f"{web}/groups/lab?to={to}")
    area = s.find("textarea[name=doc]")
    area.clear()
    area.send_keys(suggested)
    s.find("button#preview").click()
    s.wait_url(lambda u: u.endswith("/groups/lab/preview"))
    table = s.find("#preview-rules")
    for row in table.find_all("tbody tr"):
        cells = row.find_all("td")
        if cells[0].text() == d2c:
            out("preview-d2c", f"{cells[1].text()} {cells[2].text()} {cells[3].text()}")
    s.screenshot(f"{shots}/preview.png")
    out("preview-added", " ".join(a.text() for a in s.find_all("table.added td:first-child a")))
    out("preview-days-chart", len(s.find_all("svg.chart rect.bar2")) > 0)
    out("preview-editor-holds-doc", s.find("textarea[name=doc]").prop("value") == suggested)
    stored = json.loads(subprocess.run([os.environ["WARDEN"], "groups", "export", "lab", "--db", os.environ["DB"]],
                                       capture_output=True, text=True).stdout)
    out("preview-saves-nothing", [r["maxThreshold"] for r in stored["properties"]["timeWindowRules"]
                                  if r["ruleType"] == d2c][0])
    s.find("button#save").click()
    s.wait_url(lambda u: "saved=1" in u)
    out("saved-note", s.find("div.ok").text())
finally:
    s.quit()
PY
check tuning-browser-driver-ran "$?" 0
cat "$T/browser.err" >&2
[ -n "${WARDEN_SCREENSHOTS:-}" ] && cp "$T"/shots/*.png "$WARDEN_SCREENSHOTS"/
r() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$T/browser.out"; }
check tuning-browser-login "$(r login-lands-on-group)" True
check tuning-browser-baseline-link "$(r baseline-link)" "Baseline and suggested ranges"
check tuning-browser-chart "$(r chart)" True
check tuning-browser-bands "$(r bands)" "1 1"
check tuning-browser-histogram-bars "$(r histogram-bars)" True
check tuning-browser-legend "$(r legend)" True
check tuning-browser-suggested-min "$(r sug-min)" "$(b '$.suggested.min')"
check tuning-browser-suggested-max "$(r sug-max)" "$(b '$.suggested.max')"
check tuning-browser-flagged-windows "$(r sug-flagged-windows)" "$(b '$.suggested.flagged_windows')"
check tuning-browser-flagged-devices "$(r sug-flagged-devices)" "$(b '$.suggested.flagged_devices')"
check tuning-browser-small-multiples "$(r multiples)" "$(json "json_array_length((SELECT value FROM json_each(j, '\$.rules') WHERE value ->> 'rule' = '$D2C'), '\$.devices')" "$T/base.json")"
check tuning-browser-multiple-links-device "$(r multiple-links)" "/devices/$(b '$.devices[0].device_id')"
check tuning-browser-use-button "$(r use-button)" "Use these suggestions"
check tuning-browser-preview-invalid "$(r preview-invalid) $(r preview-invalid-keeps-doc)" "True True"
check tuning-browser-preview-d2c "$(r preview-d2c)" "0 1 1 added, 0 removed"
check tuning-browser-preview-added-dev07 "$(r preview-added)" dev-07
check tuning-browser-preview-days-chart "$(r preview-days-chart)" True
check tuning-browser-preview-editor "$(r preview-editor-holds-doc)" True
check tuning-browser-preview-saves-nothing "$(r preview-saves-nothing)" 100000
check tuning-browser-saved "$(r saved-note)" "Saved. The next evaluator pass uses it."
"$WARDEN" groups export lab --db "$DB" > "$T/export.json" 2> /dev/null
check tuning-browser-stored "$(e $D2C minThreshold) $(e $D2C maxThreshold)" \
    "$(b '$.suggested.min') $(b '$.suggested.max')"

stop_pid "$DRIVER_PID"
stop_pid "$SERVE_PID"

# ---- busy: the worker and its queue taken (the test hook holds every job), the page says so ----
metric() {
    req GET /metrics > /dev/null
    awk -v n="$1" '$1 == n { print $2 }' "$T/body"
}
export WARDEN_TEST_SLOW_BASELINE_MS=60000
start_serve
unset WARDEN_TEST_SLOW_BASELINE_MS
BG=()
for i in 1 2 3 4 5; do
    curl -s -o /dev/null --max-time 90 "$WEB/groups/lab/baseline?to=$TO" &
    BG+=($!)
    PIDS+=($!)
done
wait_until '[ "$(metric warden_baseline_running) $(metric warden_baseline_queued)" = "1 4" ]' 20 &&
    pass tuning-browser-worker-taken ||
    fail tuning-browser-worker-taken "$(metric warden_baseline_running) $(metric warden_baseline_queued)"
check tuning-browser-busy-status "$(req GET "/groups/lab/baseline?to=$TO")" 503
grep -q 'Busy' "$T/body" && pass tuning-browser-busy-page || fail tuning-browser-busy-page
[ -n "$(header Retry-After)" ] && pass tuning-browser-busy-retry-after || fail tuning-browser-busy-retry-after
kill "${BG[@]}" 2> /dev/null
wait_until '[ "$(metric warden_baseline_running) $(metric warden_baseline_queued)" = "0 0" ]' 30 &&
    pass tuning-browser-clients-gone-free-worker || fail tuning-browser-clients-gone-free-worker
stop_pid "$SERVE_PID"
sanitizers_clean tuning-browser-sanitizers-clean
exit $NFAIL
