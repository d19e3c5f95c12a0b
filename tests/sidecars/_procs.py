"""Process helpers shared by the sidecar tests."""

from __future__ import annotations

KILL_SERVER = """
import os, signal
def status(pid):
    try:
        lines = open(f"/proc/{pid}/status").read().splitlines()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)
for pid in os.listdir("/proc"):
    if pid.isdigit():
        me = status(pid)
        # the server: the supervisor's fork, a python3 whose parent is a python3
        if me.get("Name") == "python3" and status(me.get("PPid")).get("Name") == "python3":
            os.kill(int(pid), signal.SIGKILL)
"""
"""Kill the serving process (not the supervisor): what a crash from the network would do."""
