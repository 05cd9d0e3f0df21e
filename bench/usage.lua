-- POST /orgs/{org}/usage with 1000 events a call.
local events = {}
for i = 1, 1000 do
  events[i] = '{"metric":"bench.events","quantity":' .. i .. '}'
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ORGD_KEY")
wrk.body = "[" .. table.concat(events, ",") .. "]"
