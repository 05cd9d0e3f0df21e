-- POST /insert on the naive baseline: one durable INSERT per request.
wrk.method = "POST"
wrk.body = '{"name":"bench"}'
