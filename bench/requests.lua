-- wrk script: sends the requests listed in a file (one per line: path TAB auth TAB body;
-- an empty body is a GET of the path), in turn,
-- and prints one machine-readable summary line when the run ends.
local requests = {}
local count = 0
local index = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local path, auth, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    count = count + 1
    if body == "" then
      requests[count] = wrk.format("GET", path, {["Authorization"] = auth})
    else
      requests[count] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["Authorization"] = auth,
      }, body)
    end
  end
  file:close()
end

function request()
  index = index % count + 1
  return requests[index]
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format(
    "BENCH {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d,\"max_us\":%d," ..
    "\"socket_errors\":%d,\"status_errors\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, errors.connect + errors.read + errors.write + errors.timeout, errors.status))
end
