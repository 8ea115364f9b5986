"""The stations' profiles (how each village's PC lives) and how a county's villages are dealt them, seeded."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

__all__ = ("PROFILES", "Plan", "Slot", "plan_fleet")

PROFILES = {
    "daily": "online, syncs at the end of each working day",
    "weekly": "offline for a week at a time: syncs on the first working day 7 days after its last sync",
    "long_offline": "enrolled, then offline for the long gap (90 days by default), then back and daily",
    "gprs": "daily, through a FaultProxy with the GPRS profile (9.6 kbit/s, 0.6 s latency)",
    "skewed": "daily, its clock runs days (or minutes) off the county's",
    "restored": "daily; its data folder is copied early and restored later, then it keeps working: a fork",
    "usb": "daily over HTTP, then moved to USB: station export → hub import → hub export → station import",
    "revoked": "daily until the county revokes its key mid-run; its later work is refused",
    "replacement": "a new PC enrolled for the revoked station's village the day after (gets the village's history)",
    "second_pc": "a second PC (device B) in a daily village: each sees the other's cases through the hub",
}
"""Every profile, with what it does (the report and docs/fleet.md list them)."""

# Clock offsets given to the skewed stations in turn: the last is within the hub's 5-minute limit,
# so it must NOT be flagged.
SKEWS = (dt.timedelta(days=3), dt.timedelta(days=-2), dt.timedelta(hours=-30), dt.timedelta(minutes=2))


@dataclass(frozen=True)
class Slot:
    """One station to enrol: its village, profile and (for a skewed one) its clock offset."""

    village: str
    profile: str
    skew: dt.timedelta = dt.timedelta(0)

    @property
    def flag_expected(self) -> bool:
        """Whether the hub must flag this station's clock (offset beyond 5 minutes)."""
        return abs(self.skew) > dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Plan:
    slots: list[Slot]
    """Stations enrolled at the start (long-offline ones before it), in village order."""
    replacement_village: str | None
    """The village that gets a replacement PC after its station is revoked."""


def plan_fleet(
    villages: list[str],
    rng: random.Random,
    *,
    gprs: int,
    long_offline: int,
    skewed: int,
    usb: int,
    second_pcs: int,
    weekly_share: float,
) -> Plan:
    """Deal profiles to villages: the rare ones first (seeded draw), weekly to a share, daily to the rest."""
    order = villages[:]
    rng.shuffle(order)
    wanted = (
        ["gprs"] * gprs
        + ["long_offline"] * long_offline
        + ["skewed"] * skewed
        + ["usb"] * usb
        + ["restored", "revoked"]
    )
    if len(wanted) + second_pcs > len(order):
        raise ValueError(f"{len(order)} villages are too few for {len(wanted) + second_pcs} special stations")
    slots: list[Slot] = []
    skews = iter(SKEWS * (skewed // len(SKEWS) + 1))
    for village, profile in zip(order, wanted):
        slots.append(Slot(village, profile, next(skews) if profile == "skewed" else dt.timedelta(0)))
    rest = order[len(wanted) :]
    weekly = round(len(rest) * weekly_share)
    slots += [Slot(v, "weekly") for v in rest[:weekly]]
    slots += [Slot(v, "daily") for v in rest[weekly:]]
    # Second PCs go to daily villages: both PCs of the village then sync every working day.
    slots += [Slot(v, "second_pc") for v in rest[weekly : weekly + second_pcs]]
    revoked = next(s.village for s in slots if s.profile == "revoked")
    slots.sort(key=lambda s: (s.village, s.profile == "second_pc"))
    return Plan(slots=slots, replacement_village=revoked)
