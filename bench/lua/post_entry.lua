-- POST /api/v1/time-entries with a distinct body per request: the description carries the
-- thread and a counter, the date walks back day by day from a base date.
-- wrk ... -s post_entry.lua URL -- API_KEY PROJECT_ID BASE_EPOCH
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  key, project, base = args[1], args[2], tonumber(args[3])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Api-Key"] = key
end

function request()
  counter = counter + 1
  local day = os.date("!%Y-%m-%d", base - (counter % 365) * 86400)
  local body = string.format(
    '{"projectId":"%s","date":"%s","durationSeconds":%d,"description":"bench t%d n%d"}',
    project, day, 900 + (counter % 28) * 300, tid, counter)
  return wrk.format(nil, wrk.path, nil, body)
end
