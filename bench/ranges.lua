-- wrk script: Connect JSON PingCount of ranges from $RANGES (JSON bodies
-- separated by ';'), one picked at random per request ('{}' when unset).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {}
for b in string.gmatch(os.getenv("RANGES") or "{}", "[^;]+") do
  table.insert(bodies, b)
end
request = function()
  return wrk.format(nil, "/ping.v1.PingService/PingCount", nil, bodies[math.random(#bodies)])
end
