"""CPU time and peak resident memory of a process, from /proc."""

from __future__ import annotations

import os
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system time so far of the process, its threads, and its child processes
    (the workers of `serve --workers`), living or reaped."""
    # After the ")" that ends the command name, utime, stime, cutime and cstime are fields
    # 12 to 15.
    fields = _stat(pid)
    total = sum(int(field) for field in fields[11:15])
    for child in _children(pid):
        child_fields = _stat(child)
        total += sum(int(field) for field in child_fields[11:13])
    return total / TICKS_PER_SECOND


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the largest resident set the process has had, plus its children's."""
    return sum(_peak_rss_kib(each) for each in (pid, *_children(pid))) / 1024


def _peak_rss_kib(pid: int) -> int:
    return _status_kib(pid, "VmHWM")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def rss_mib(pid: int) -> float:
    """VmRSS: the resident set of the process now, plus its children's."""
    return sum(_status_kib(each, "VmRSS") for each in (pid, *_children(pid))) / 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds of the whole machine so far, busy and in all (every core): the first
    line of /proc/stat, whose idle and iowait columns are the time not busy."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])  # guest time is already in user and nice
    idle = values[3] + values[4]
    return (total - idle) / TICKS_PER_SECOND, total / TICKS_PER_SECOND
