#!/bin/sh
# Runs the realtime benchmark (npm run bench) with an open-file limit high enough for 100,000
# loopback connections, counted at both ends. Raising the hard limit needs root; otherwise the
# soft limit goes up to the hard one and main.js warns when that is too low.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec node "$(dirname "$0")/../../dist/bench/realtime/main.js" "$@"
