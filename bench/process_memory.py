"""What the benchmarks read of their own process: resident memory from /proc (Linux)."""


def rss_kib(key: str) -> int:
    """A line of /proc/self/status in KiB, e.g. "VmRSS" (now) or "VmHWM" (the peak)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key):
                return int(line.split()[1])
    raise RuntimeError(key)
