-- POST /orgs: a new child of "bench" each time (the server picks the id).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ORGD_KEY")
wrk.body = '{"name":"bench child","parent_id":"bench"}'
