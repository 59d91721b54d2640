-- wrk's latency percentiles as one JSON line (µs), for bench/generators.py.
done = function(summary, latency, requests)
  io.write(string.format('{"p50_us": %d, "p99_us": %d, "p999_us": %d}\n',
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
