"""Seeded generator of household load profiles that look like Zambian homes.

Bottom-up and stochastic, in the spirit of RAMP (Lombardi et al., 2019): every household owns appliances,
and every appliance is switched on in time windows that depend on the hour, the day of the week and the
season. What it models, and why (numbers are the generator's parameters, not measurements):

- Archetypes of a cooperative cluster: ``lighting`` (LED bulbs, phones, radio, small TV; cooking on
  charcoal; ~0.2-1.5 kWh/day), ``basic`` (adds a fridge, TV with decoder, iron, kettle, some electric
  cooking; ~2-6 kWh/day), ``electric`` (cooks on hotplates, has a geyser, sometimes a heater; ~6-18 kWh/day),
  ``shop`` (a home business: chest freezer, shop light, clippers/dryer in the day; ~3-9 kWh/day).
- Evening peak: lights come on around sunset (17:40 in June, 18:40 in December in Lusaka) and go off at
  bedtime; supper is cooked between 17:00 and 20:00; breakfast, a kettle and the geyser make a smaller
  morning peak.
- Weekday and weekend: at weekends people are home in the day (TV, radio, lunch cooked), laundry is ironed on
  Saturday, the shop closes on Sunday afternoon.
- Seasons: the cold dry season (May-August) brings longer geyser runs and heaters; the hot dry season
  (September-November) brings fans and a fridge that runs more.
- Load shedding: ZESCO's rotating schedule when Kariba is low. A scenario gives outage hours per day by month
  (``moderate`` like 2022-23, ``severe`` like 2024 when it reached 17+ hours a day); each household's feeder
  group is dark in blocks that rotate by day. During an outage a household draws nothing, unless it is on the
  cluster's battery backup, which keeps lights, phones and TV on. Cooking caught by an outage is moved to when
  power returns or done on charcoal; a fridge runs flat out for a while after power returns.
- Appliances switching: thermostats cycle, sessions start and last a random time, a household may buy a new
  appliance (or an appliance may break) part-way through, families travel (only the fridge runs), and visitors
  or a funeral gathering mean a day of heavy cooking. Unscheduled faults cut power now and then.

Determinism: household ``i`` of ``generate(seed=s)`` depends only on ``(s, i)``, never on how many households
are generated, so a held-out set is just other indices or another seed.

Output: integer Wh per interval (60 or 15 minutes); the hourly series is the sum of the 15-minute integers.

Command line: ``python -m tools.loadprofiles --households 20 --days 90 --seed 1 --out build/profiles.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SLOTS_PER_HOUR = 4  # the generator works in 15-minute slots
SLOTS_PER_DAY = 24 * SLOTS_PER_HOUR
SLOT_H = 1 / SLOTS_PER_HOUR

ARCHETYPES = ("lighting", "basic", "electric", "shop")
ARCHETYPE_WEIGHTS = (0.35, 0.35, 0.2, 0.1)
SHEDDING_SCENARIOS = ("none", "moderate", "severe")
SHEDDING_WEIGHTS = (0.3, 0.4, 0.3)

# Scheduled outage hours per day, January..December.
SHEDDING_HOURS_BY_MONTH = {
    "none": (0,) * 12,
    "moderate": (0, 0, 0, 2, 4, 4, 6, 8, 8, 10, 8, 4),
    "severe": (0, 2, 4, 8, 8, 12, 12, 14, 17, 17, 17, 12),
}
FEEDER_GROUPS = 4
FAULT_PROBABILITY_PER_DAY = 0.04

COLD_MONTHS = (5, 6, 7, 8)
HOT_MONTHS = (9, 10, 11)


@dataclass
class Household:
    """One generated household: its description and its consumption, integer Wh per interval."""

    index: int
    archetype: str
    shedding: str
    backup: bool
    start: dt.date
    resolution_min: int
    wh: np.ndarray  # int32, one value per interval, from `start` 00:00 local time
    events: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"hh{self.index:04d}-{self.archetype}"

    @property
    def start_weekday(self) -> int:
        """0 = Monday, as MicroPython's and CPython's `time.localtime()[6]`."""
        return self.start.weekday()

    def hourly(self) -> np.ndarray:
        """Integer Wh per hour (sums the 15-minute integers when the resolution is finer)."""
        per_hour = 60 // self.resolution_min
        return self.wh.reshape(-1, per_hour).sum(axis=1).astype(np.int32)


def sun_hours(day_of_year: int) -> tuple[float, float]:
    """Approximate local sunrise and sunset in Lusaka (UTC+2), hours after midnight."""
    phase = math.cos(2 * math.pi * (day_of_year - 355) / 365.25)  # +1 at the December solstice
    return 6.15 - 0.45 * phase, 18.2 + 0.5 * phase


class _Day:
    """Working state of one day: power per 15-minute slot, and the slots the grid is off."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.watts = np.zeros(SLOTS_PER_DAY)
        self.outage = np.zeros(SLOTS_PER_DAY, dtype=bool)
        self.essential = np.zeros(SLOTS_PER_DAY)  # the part the cluster battery keeps on

    def add(self, start_h: float, duration_h: float, watts: float, essential: bool = False) -> None:
        first = int(np.clip(round(start_h * SLOTS_PER_HOUR), 0, SLOTS_PER_DAY - 1))
        count = max(1, round(duration_h * SLOTS_PER_HOUR))
        last = min(SLOTS_PER_DAY, first + count)
        self.watts[first:last] += watts
        if essential:
            self.essential[first:last] += watts

    def add_deferrable(self, start_h: float, duration_h: float, watts: float) -> None:
        """A cooking session: if the grid is off then, it moves to when power returns, or goes to charcoal."""
        first = int(np.clip(round(start_h * SLOTS_PER_HOUR), 0, SLOTS_PER_DAY - 1))
        count = max(1, round(duration_h * SLOTS_PER_HOUR))
        if self.outage[first : first + count].any():
            if self.rng.random() < 0.5:
                return  # cooked on charcoal
            later = np.flatnonzero(~self.outage[first:])
            if later.size == 0 or (first + later[0]) / SLOTS_PER_HOUR > 21.5:
                return
            first += int(later[0])
        self.watts[first : first + count] += watts

    def duty(self, start_h: float, end_h: float, watts: float, duty: float, essential: bool = False) -> None:
        """A thermostat appliance: each slot it runs with probability `duty`."""
        first = int(start_h * SLOTS_PER_HOUR)
        last = int(end_h * SLOTS_PER_HOUR)
        on = self.rng.random(last - first) < duty
        self.watts[first:last] += on * watts
        if essential:
            self.essential[first:last] += on * watts


def _shedding_mask(
    day_number: int, month: int, scenario: str, group: int, rng: np.random.Generator
) -> np.ndarray:
    """Slots of the day when the household's feeder is off: rotating scheduled blocks plus random faults."""
    mask = np.zeros(SLOTS_PER_DAY, dtype=bool)
    hours = SHEDDING_HOURS_BY_MONTH[scenario][month - 1]
    if hours:
        blocks = 1 if hours >= 12 else 2 if hours >= 4 else 1
        length = hours / blocks * SLOTS_PER_HOUR
        start = ((day_number + group) * 4 * SLOTS_PER_HOUR + group * 2 * SLOTS_PER_HOUR) % SLOTS_PER_DAY
        for block in range(blocks):
            first = (start + block * 12 * SLOTS_PER_HOUR) % SLOTS_PER_DAY
            slots = (first + np.arange(int(length))) % SLOTS_PER_DAY
            mask[slots] = True
    if rng.random() < FAULT_PROBABILITY_PER_DAY:
        first = rng.integers(0, SLOTS_PER_DAY)
        slots = (first + np.arange(rng.integers(2, 13))) % SLOTS_PER_DAY
        mask[slots] = True
    return mask


@dataclass
class _Owner:
    """What a household owns and how it behaves; drawn once per household."""

    bulbs: int
    bulb_w: float
    phones: int
    tv_w: float  # 0 when there is no TV
    fridge_w: float
    freezer_w: float
    hotplate_w: float
    cooks_electric: float  # probability that supper is cooked on the hotplate
    geyser_w: float
    heater_w: float
    iron_w: float
    kettle_w: float
    fan_w: float
    shop: bool
    bedtime_h: float
    wake_h: float


def _draw_owner(archetype: str, rng: np.random.Generator) -> _Owner:
    def maybe(probability: float, watts: float) -> float:
        return watts if rng.random() < probability else 0.0

    if archetype == "lighting":
        return _Owner(
            bulbs=int(rng.integers(2, 6)), bulb_w=float(rng.choice([5, 7, 9])), phones=int(rng.integers(1, 4)),
            tv_w=maybe(0.5, rng.uniform(25, 60)), fridge_w=0.0, freezer_w=0.0,
            hotplate_w=maybe(0.15, 1000.0), cooks_electric=0.15, geyser_w=0.0, heater_w=0.0,
            iron_w=maybe(0.3, 1000.0), kettle_w=0.0, fan_w=0.0, shop=False,
            bedtime_h=rng.normal(21.5, 0.5), wake_h=rng.normal(5.5, 0.4),
        )  # fmt: skip
    if archetype == "basic":
        return _Owner(
            bulbs=int(rng.integers(4, 9)), bulb_w=float(rng.choice([7, 9, 12])), phones=int(rng.integers(2, 5)),
            tv_w=rng.uniform(60, 120), fridge_w=maybe(0.8, rng.uniform(90, 150)), freezer_w=0.0,
            hotplate_w=maybe(0.7, rng.uniform(1500, 2000)), cooks_electric=rng.uniform(0.25, 0.6),
            geyser_w=maybe(0.15, 2000.0), heater_w=0.0, iron_w=1000.0, kettle_w=maybe(0.6, 1800.0),
            fan_w=maybe(0.4, 60.0), shop=False,
            bedtime_h=rng.normal(22.3, 0.6), wake_h=rng.normal(5.7, 0.4),
        )  # fmt: skip
    if archetype == "electric":
        return _Owner(
            bulbs=int(rng.integers(8, 15)), bulb_w=float(rng.choice([9, 12, 15])), phones=int(rng.integers(3, 6)),
            tv_w=rng.uniform(90, 180), fridge_w=rng.uniform(110, 180), freezer_w=maybe(0.5, rng.uniform(150, 220)),
            hotplate_w=rng.uniform(2000, 3500), cooks_electric=rng.uniform(0.8, 0.97),
            geyser_w=maybe(0.7, rng.choice([2000.0, 3000.0])), heater_w=maybe(0.5, 1500.0), iron_w=1200.0,
            kettle_w=2000.0, fan_w=maybe(0.8, rng.uniform(60, 150)), shop=False,
            bedtime_h=rng.normal(22.8, 0.6), wake_h=rng.normal(5.8, 0.4),
        )  # fmt: skip
    if archetype == "shop":
        return _Owner(
            bulbs=int(rng.integers(4, 8)), bulb_w=float(rng.choice([9, 12])), phones=int(rng.integers(2, 6)),
            tv_w=rng.uniform(60, 100), fridge_w=rng.uniform(120, 200), freezer_w=rng.uniform(180, 300),
            hotplate_w=maybe(0.5, 1500.0), cooks_electric=0.35, geyser_w=0.0, heater_w=0.0, iron_w=1000.0,
            kettle_w=maybe(0.5, 1800.0), fan_w=maybe(0.5, 70.0), shop=True,
            bedtime_h=rng.normal(22.5, 0.5), wake_h=rng.normal(5.5, 0.4),
        )  # fmt: skip
    raise ValueError(f"unknown archetype {archetype!r}")


def _simulate_day(
    owner: _Owner, day: _Day, date: dt.date, away: bool, guests: bool, rebound_slots: int
) -> None:
    rng = day.rng
    month = date.month
    weekday = date.weekday()
    weekend = weekday >= 5
    sunrise, sunset = sun_hours(date.timetuple().tm_yday)
    cold = month in COLD_MONTHS
    hot = month in HOT_MONTHS

    # Thermostat loads run whether anyone is home or not.
    for watts, base_duty in ((owner.fridge_w, 0.35), (owner.freezer_w, 0.5)):
        if watts:
            duty = base_duty * (1.3 if hot else 0.85 if cold else 1.0)
            day.duty(0, 24, watts, min(duty, 0.95))
            if rebound_slots:
                day.watts[:rebound_slots] += watts * (1 - duty)  # catching up after an outage at midnight
    if away:
        day.add(sunset, 24 - sunset, 10, essential=True)  # a security light
        return

    bedtime = owner.bedtime_h + rng.normal(0, 0.4) + (0.6 if weekday in (4, 5) else 0)
    wake = owner.wake_h + rng.normal(0, 0.3) + (0.8 if weekend else 0)
    # Lights: evening from dusk (earlier when it is cloudy in the rains) to bedtime; morning before sunrise.
    dusk = sunset - rng.uniform(0.1, 0.6) - (0.3 if month in (12, 1, 2, 3) and rng.random() < 0.4 else 0)
    lit = np.clip(rng.normal(0.7, 0.15), 0.3, 1.0) * owner.bulbs
    day.add(dusk, bedtime - dusk, lit * owner.bulb_w, essential=True)
    day.add(bedtime, 1.0, 0.3 * lit * owner.bulb_w, essential=True)  # a light left on
    if wake < sunrise:
        day.add(wake, sunrise - wake + 0.3, 0.5 * lit * owner.bulb_w, essential=True)
    day.add(0, 24, 0.2 * owner.bulb_w, essential=True)  # the security light
    # Phones charge in the evening and overnight.
    day.add(18 + rng.uniform(0, 3), rng.uniform(2, 5), 6.0 * owner.phones, essential=True)
    # TV and decoder: evenings, and in the day at weekends.
    if owner.tv_w:
        day.add(sunset - rng.uniform(0, 1), bedtime - sunset + rng.uniform(-0.5, 0.5), owner.tv_w, essential=True)
        if weekend or rng.random() < 0.2:
            day.add(rng.uniform(9, 14), rng.uniform(1, 4), owner.tv_w, essential=True)
    day.add(rng.uniform(6, 9), rng.uniform(2, 6), 8.0, essential=True)  # radio
    if owner.fan_w and hot:
        day.add(rng.uniform(12, 15), rng.uniform(3, 7), owner.fan_w)
        day.add(bedtime - 0.5, rng.uniform(1, 4), owner.fan_w)
    # Cooking on the hotplate (often both plates, thermostat at about 70 %).
    if owner.hotplate_w:
        meals = 2 if guests else 1
        for _ in range(meals):
            if rng.random() < owner.cooks_electric:
                day.add_deferrable(rng.normal(17.9, 0.6), rng.uniform(0.75, 1.75), 0.7 * owner.hotplate_w)
        if rng.random() < owner.cooks_electric * (0.8 if weekend else 0.3):
            day.add_deferrable(rng.normal(12.5, 0.5), rng.uniform(0.5, 1.25), 0.7 * owner.hotplate_w)
        if rng.random() < owner.cooks_electric * 0.4:
            day.add_deferrable(wake + rng.uniform(0.2, 0.8), rng.uniform(0.25, 0.5), 0.5 * owner.hotplate_w)
    if owner.kettle_w:
        for start in (wake + rng.uniform(0, 0.7), rng.normal(16.5, 1.5)):
            if rng.random() < 0.8:
                day.add(start, 0.25, 0.4 * owner.kettle_w)  # 5-6 minutes in a 15-minute slot
    if owner.geyser_w:
        scale = 1.5 if cold else 0.7 if hot else 1.0
        day.duty(max(wake - 1, 0), wake + 1, owner.geyser_w, min(0.6 * scale, 0.95))
        day.duty(18, 21, owner.geyser_w, 0.2 * scale)
    if owner.heater_w and cold and rng.random() < 0.5:
        day.add(rng.uniform(18, 20), rng.uniform(1, 3), owner.heater_w)
    if owner.iron_w and rng.random() < (0.6 if weekday == 5 else 0.12):
        day.add(rng.uniform(8, 17), rng.uniform(0.5, 1.25), 0.6 * owner.iron_w)
    if owner.shop and not (weekday == 6 and rng.random() < 0.7):
        day.add(7, 13, 20)  # the shop's light and a radio
        for _ in range(rng.poisson(3 if weekend else 2)):
            day.add(rng.uniform(8.5, 18.5), rng.uniform(0.25, 1.0), rng.choice([15.0, 1200.0]))


def _household(index: int, seed: int, days: int, start: dt.date, archetype: str | None,
               shedding: str | None) -> Household:  # fmt: skip
    """Household `index` at 15-minute resolution."""
    rng = np.random.default_rng([seed, index])
    archetype = archetype or str(rng.choice(ARCHETYPES, p=ARCHETYPE_WEIGHTS))
    shedding = shedding or str(rng.choice(SHEDDING_SCENARIOS, p=SHEDDING_WEIGHTS))
    owner = _draw_owner(archetype, rng)
    backup = bool(rng.random() < 0.3)
    group = int(rng.integers(0, FEEDER_GROUPS))
    household = Household(index, archetype, shedding, backup, start, 15, np.zeros(0, np.int32))

    # Appliances switching for good: a purchase or a breakdown part-way through.
    change_day = int(rng.integers(days // 4, max(days // 4 + 1, days))) if rng.random() < 0.3 else -1
    slots = np.zeros((days, SLOTS_PER_DAY))
    away_left = 0
    rebound = 0
    for day_number in range(days):
        date = start + dt.timedelta(days=day_number)
        if day_number == change_day:
            if owner.fridge_w == 0:
                owner.fridge_w = float(rng.uniform(90, 150))
                household.events.append(f"day {day_number}: bought a fridge")
            elif owner.hotplate_w == 0:
                owner.hotplate_w, owner.cooks_electric = 1500.0, max(owner.cooks_electric, 0.5)
                household.events.append(f"day {day_number}: bought a hotplate")
            else:
                owner.fridge_w = 0.0
                household.events.append(f"day {day_number}: the fridge broke")
        if away_left == 0 and rng.random() < 1 / 75:
            away_left = int(rng.integers(1, 5))
            household.events.append(f"day {day_number}: away for {away_left} days")
        away = away_left > 0
        away_left = max(0, away_left - 1)
        guests = not away and rng.random() < 1 / 60

        day = _Day(rng)
        day.outage = _shedding_mask(day_number, date.month, shedding, group, rng)
        _simulate_day(owner, day, date, away, guests, rebound)
        watts = day.watts
        # The fridge catches up after every outage: flat out for a quarter of the outage, up to 2 hours.
        cold_w = owner.fridge_w + owner.freezer_w
        ends = np.flatnonzero(day.outage[:-1] & ~day.outage[1:]) + 1
        for end in ends:
            run = end - np.flatnonzero(~day.outage[:end])[-1] - 1 if (~day.outage[:end]).any() else end
            watts[end : end + min(run // 4, 2 * SLOTS_PER_HOUR)] += cold_w * 0.6
        rebound = min(int(day.outage[-8:].sum()) // 4, 2 * SLOTS_PER_HOUR) if day.outage[-1] else 0
        powered = day.essential if backup else np.zeros(SLOTS_PER_DAY)
        slots[day_number] = np.where(day.outage, powered, watts)

    household.wh = np.rint(slots.reshape(-1) * SLOT_H).astype(np.int32)
    return household


def generate(
    households: int,
    days: int,
    seed: int,
    start: dt.date = dt.date(2024, 1, 1),
    resolution_min: int = 60,
    first_index: int = 0,
    archetype: str | None = None,
    shedding: str | None = None,
) -> list[Household]:
    """Generate `households` households of `days` days, integer Wh per `resolution_min` (60 or 15) interval.

    `first_index` offsets the household indices (a held-out set with the same seed); `archetype` and
    `shedding` force one archetype or load-shedding scenario instead of drawing them.
    """
    if resolution_min not in (15, 60):
        raise ValueError("resolution_min must be 15 or 60")
    if households < 0 or days < 1:
        raise ValueError("need households >= 0 and days >= 1")
    out = []
    for index in range(first_index, first_index + households):
        household = _household(index, seed, days, start, archetype, shedding)
        if resolution_min == 60:
            household.wh = household.hourly()
            household.resolution_min = 60
        out.append(household)
    return out


def write_csv(households: list[Household], path: Path) -> None:
    """One row per interval: household, archetype, local start time, Wh."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["household", "archetype", "shedding", "start_local", "wh"])
        for household in households:
            step = dt.timedelta(minutes=household.resolution_min)
            time = dt.datetime.combine(household.start, dt.time())
            for value in household.wh.tolist():
                writer.writerow([household.name, household.archetype, household.shedding, time.isoformat(), value])
                time += step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=20)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 1, 1))
    parser.add_argument("--resolution-min", type=int, choices=(15, 60), default=60)
    parser.add_argument("--out", type=Path, default=Path("build/profiles.csv"))
    args = parser.parse_args(argv)
    households = generate(args.households, args.days, args.seed, args.start, args.resolution_min)
    write_csv(households, args.out)
    for household in households:
        daily_kwh = household.wh.sum() / args.days / 1000
        print(f"{household.name:22s} {household.shedding:9s} backup={household.backup!s:5s} "
              f"{daily_kwh:5.2f} kWh/day  {'; '.join(household.events)}")  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
