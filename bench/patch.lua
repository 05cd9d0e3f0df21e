-- PATCH /orgs/{org}: a new name each time, so every request is a real change.
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ORGD_KEY")
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"name":"bench ' .. n .. '"}')
end
