-- wrk script for the web benchmark: every request asks for a page no request
-- asked for before (GET /api/v1/alerts?limit=100 with its own `until`, far in
-- the future, so the rows and bytes are those of the plain page). Warden's
-- kept page (web/api.c, list_send) then never answers: the figure is the
-- cost of reading the 100 alerts and writing them as JSON.
local threads = 0
function setup(thread)
    thread:set("id", threads)
    threads = threads + 1
end

local id, n = 0, 0
function init(args)
    id = tonumber(wrk.thread:get("id"))
end

function request()
    n = n + 1
    -- 2100-01-01T00:00:00Z plus a second a request, each thread on its own range.
    local t = 4102444800 + id * 100000000 + n
    return wrk.format(nil, "/api/v1/alerts?limit=100&until=" .. os.date("!%Y-%m-%dT%H:%M:%SZ", t))
end
