-- wrk script: Connect JSON pings ("now" at the server).
wrk.method = "POST"
wrk.path = "/ping.v1.PingService/Ping"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"timestamp_ms": 0}'
