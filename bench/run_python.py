"""One run of the Python original (Debian's python3-parallax) for the benchmarks.

Usage: python3 run_python.py SSH_CONFIG LIMIT HOSTS_FILE COMMAND [repeat]
With "repeat", makes a first call and prints the wall time of the second in ms.
"""
import os
import sys
import time

import parallax

config, limit, hosts_file, command = sys.argv[1:5]
repeat = len(sys.argv) > 5 and sys.argv[5] == "repeat"
options = parallax.Options()
options.limit = int(limit)
options.timeout = 600
options.ssh_extra = ["-F", config]
hosts = open(hosts_file).read().split()
results = parallax.call(hosts, command, options)
if repeat:
    cpu = sum(os.times()[:4])
    started = time.monotonic()
    results = parallax.call(hosts, command, options)
    # The repeat call's wall time and CPU (this process and the ssh it waited for), in ms.
    print(round((time.monotonic() - started) * 1000), round((sum(os.times()[:4]) - cpu) * 1000))
failed = [h for h, r in results.items() if isinstance(r, parallax.Error)]
if failed:
    print(f"{len(failed)} hosts failed: {results[failed[0]]}", file=sys.stderr)
    sys.exit(1)
