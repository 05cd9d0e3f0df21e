-- PATCH /orgs/b{0..99} in turn: changes spread over 100 orgs, each an event.
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ORGD_KEY")
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/orgs/b" .. (n % 100), nil, '{"name":"bench ' .. n .. '"}')
end
