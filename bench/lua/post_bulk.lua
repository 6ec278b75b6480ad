-- POST /api/v1/time-entries/bulk with 500 entries per request. Bodies are built once (in init)
-- and rotated; each has its own dates and descriptions, so entries differ.
-- wrk ... -s post_bulk.lua URL -- API_KEY PROJECT_ID BASE_EPOCH
local threads = {}
local bodies = {}
local n = 0
local BODIES = 16
local ITEMS = 500

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local key, project, base = args[1], args[2], tonumber(args[3])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Api-Key"] = key
  for b = 1, BODIES do
    local items = {}
    for i = 1, ITEMS do
      local day = os.date("!%Y-%m-%d", base - ((b * ITEMS + i) % 365) * 86400)
      items[i] = string.format(
        '{"projectId":"%s","date":"%s","durationSeconds":%d,"description":"bulk t%d b%d i%d"}',
        project, day, 900 + (i % 28) * 300, tid, b, i)
    end
    bodies[b] = '{"items":[' .. table.concat(items, ",") .. ']}'
  end
end

function request()
  n = n + 1
  return wrk.format(nil, wrk.path, nil, bodies[(n % BODIES) + 1])
end
