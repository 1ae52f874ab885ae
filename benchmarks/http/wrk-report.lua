-- wrk hook for benchmarks/http.sh: after the run, print one line
--   WRKJSON {...}
-- with the exact counts and latency percentiles (microseconds), which
-- `httpidle wrk` turns into the raw result line. wrk's own text report
-- (--latency) is printed above it and kept in the run's log.
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
		'"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
		'"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
		summary.requests, summary.duration, summary.bytes,
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency.max, latency.mean,
		e.connect, e.read, e.write, e.status, e.timeout))
end
