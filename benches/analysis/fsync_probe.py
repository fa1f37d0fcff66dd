#!/usr/bin/env python3
"""Commit-flush latency probe: every INTERVAL s, 100 x (8 kB write + fdatasync) on the
filesystem of the PostgreSQL WAL (/var/lib/postgresql is on /), prints time, p50, p90 in ms.
usage: fsync_probe.py [interval_s] [count]"""
import os, sys, time, signal
interval = float(sys.argv[1]) if len(sys.argv) > 1 else 5
count = int(sys.argv[2]) if len(sys.argv) > 2 else 10**9
path = "/var/tmp/pspas_fsync_probe.bin"
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
buf = os.urandom(8192)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so that the file is removed on kill
try:
    for _ in range(count):
        lat = []
        for i in range(100):
            t = time.perf_counter(); os.pwrite(fd, buf, (i % 16) * 8192); os.fdatasync(fd)
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        print(f"{time.strftime('%H:%M:%S')} fdatasync p50 {lat[50]:.3f} ms p90 {lat[90]:.3f} ms load {os.getloadavg()[0]:.2f}", flush=True)
        time.sleep(interval)
finally:
    os.close(fd); os.unlink(path)
