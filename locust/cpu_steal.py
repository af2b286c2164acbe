"""CPU steal: the share of this machine's CPU time that the hypervisor gave to other VMs, from Linux's
/proc/stat. On a shared runner it is what makes one round or run slower than the next for every endpoint
at once; metrics.json records it over the load (machine.cpu_steal_pct), the gate's summary shows it.
Plain functions, no Locust import (the gate's tests read them)."""

from __future__ import annotations

from pathlib import Path

PROC_STAT = Path("/proc/stat")


def cpu_times(source: Path = PROC_STAT) -> tuple[int, int] | None:
    """(steal, total) clock ticks of all the machine's CPUs since boot, from /proc/stat's first line; None
    where there is none (not Linux). Steal is the time the hypervisor gave this VM's CPUs to others:
    what makes a shared runner's rounds swing. guest and guest_nice are inside user and nice already."""
    try:
        first = source.read_text(encoding="ascii").split("\n", 1)[0].split()
        ticks = [int(value) for value in first[1:9]]
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not first or first[0] != "cpu" or len(ticks) < 8:
        return None
    return ticks[7], sum(ticks)


def steal_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the machine's CPU time taken by other VMs between two cpu_times() readings (percent)."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(max(after[0] - before[0], 0) / (after[1] - before[1]) * 100.0, 1)
