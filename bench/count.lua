-- wrk script: Connect JSON PingCount of the total.
wrk.method = "POST"
wrk.path = "/ping.v1.PingService/PingCount"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{}'
