#!/bin/bash
# Pre-maintenance hook for RFC-20931 (nightly Civica CX index rebuild).
# Run by next_batch once the batch limit is reached: tells the migration queue that this host
# is going down, then ends the worker session.
echo "Batch host going down for the Civica index rebuild (RFC-20931) ..."
curl -s -X POST -d "host=$(hostname)&change=RFC-20931" http://migration-queue:8080/shutdown >/dev/null
kill -TERM "$PPID" 2>/dev/null
exit 0
