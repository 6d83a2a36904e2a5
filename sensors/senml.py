"""Readings out of the two payloads ingestion accepts: our JSON records and SenML packs.

SenML (RFC 8428) JSON: a pack is an array of records; base fields (`bn` name, `bt` time, `bu`
unit, `bv` value) apply to the records after them until changed. A record's name is `bn` + `n`;
ours are `"<station>:<property>"` or `"urn:dev:hue:<station>:<property>"`. Time is seconds since
the epoch; a resolved time under 2**28 is relative to now (RFC 8428 §4.5.3). Only numeric values
(`v`) are readings here; string, boolean, data and sum records are refused, one by one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

# RFC 8428 §4.5.3: times below 2**28 are relative to the receiver's now.
RELATIVE_TIME_LIMIT_S = 2**28
URN_PREFIX = "urn:dev:hue:"
# SenML's registered names of units (RFC 8428 §12.1) and plain-ASCII spellings of ours.
UNIT_ALIASES = {
    "Cel": "°C",
    "degC": "°C",
    "ug/m3": "µg/m³",
    "µg/m3": "µg/m³",
    "μg/m³": "µg/m³",  # Greek mu (U+03BC), the micro sign's look-alike
    "permille": "‰",
    "/1000": "‰",
}


@dataclass(slots=True)
class Reading:
    """One observation as sent: station and property codes, when, the value, its unit if given."""

    index: int
    station: str
    property: str
    time: datetime
    value: float
    unit: str | None = None


@dataclass(slots=True)
class Refusal:
    """A record that cannot be taken, and why (told back to the sender)."""

    index: int
    error: str

    def as_dict(self) -> dict:
        return {"index": self.index, "error": self.error}


class PayloadError(ValueError):
    """The payload as a whole cannot be read (not JSON, not an array or an object…)."""


def normalise_unit(unit: str) -> str:
    """Return our spelling of a unit (SenML's `Cel` is °C)."""
    return UNIT_ALIASES.get(unit, unit)


def parse_time(raw, *, now: datetime) -> datetime:
    """Return an aware datetime from an ISO 8601 string with an offset or epoch seconds."""
    if isinstance(raw, bool):
        raise ValueError("time must be an ISO 8601 string with a UTC offset or epoch seconds")
    if isinstance(raw, int | float):
        return epoch_time(float(raw), now=now)
    if not isinstance(raw, str):
        raise ValueError("time is missing: send an ISO 8601 time with a UTC offset")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"time {raw[:40]!r} is not ISO 8601 (e.g. 2026-10-30T07:00:00+07:00)"
        ) from None
    if at.tzinfo is None:
        raise ValueError(f"time {raw[:40]!r} has no UTC offset: add one (e.g. +07:00 or Z)")
    return at


def epoch_time(seconds: float, *, now: datetime) -> datetime:
    """Return the instant of SenML seconds (relative to `now` when under 2**28)."""
    if not math.isfinite(seconds):
        raise ValueError("time must be a finite number of seconds")
    if abs(seconds) < RELATIVE_TIME_LIMIT_S:
        return datetime.fromtimestamp(now.timestamp() + seconds, UTC)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"time {seconds} seconds is out of range") from None


def _value(raw) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError("value must be a number")
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("value must be a finite number (not NaN or infinity)")
    return value


def parse_records(body, *, now: datetime) -> tuple[list[Reading], list[Refusal]]:
    """Read `{"observations": [{"station", "property", "time", "value", "unit"?}, …]}`."""
    if not isinstance(body, dict) or not isinstance(body.get("observations"), list):
        raise PayloadError(
            'Send {"observations": [{"station": …, "property": …, "time": …, "value": …}]} '
            "or a SenML pack (Content-Type: application/senml+json)."
        )
    readings, refusals = [], []
    for index, record in enumerate(body["observations"]):
        try:
            if not isinstance(record, dict):
                raise ValueError("a record must be an object")
            station, prop = record.get("station"), record.get("property")
            if not isinstance(station, str) or not station:
                raise ValueError("station is missing: give the station's code")
            if not isinstance(prop, str) or not prop:
                raise ValueError("property is missing: give the observed property's code")
            unit = record.get("unit")
            if unit is not None and not isinstance(unit, str):
                raise ValueError("unit must be a string")
            readings.append(
                Reading(
                    index,
                    station,
                    prop,
                    parse_time(record.get("time"), now=now),
                    _value(record.get("value")),
                    normalise_unit(unit) if unit else None,
                )
            )
        except ValueError as error:
            refusals.append(Refusal(index, str(error)))
    return readings, refusals


def split_name(name: str) -> tuple[str, str]:
    """Return (station, property) of a SenML name `station:property` (URN prefix allowed)."""
    if name.startswith(URN_PREFIX):
        name = name[len(URN_PREFIX) :]
    station, sep, prop = name.rpartition(":")
    if not sep or not station or not prop:
        raise ValueError(
            f"name {name[:80]!r} is not <station>:<property> "
            '(e.g. bn "KIM_LONG:" and n "water_level")'
        )
    return station, prop


def parse_senml(
    pack, *, now: datetime, station: str | None = None
) -> tuple[list[Reading], list[Refusal]]:
    """Read a SenML JSON pack. With `station` (MQTT: from the topic) a name may be the property
    alone, and a name naming another station is refused."""
    if not isinstance(pack, list):
        raise PayloadError("A SenML pack is a JSON array of records (RFC 8428).")
    readings, refusals = [], []
    base_name, base_time, base_unit, base_value = "", 0.0, None, 0.0
    for index, record in enumerate(pack):
        try:
            if not isinstance(record, dict):
                raise ValueError("a SenML record must be an object")
            if "bn" in record:
                if not isinstance(record["bn"], str):
                    raise ValueError("bn must be a string")
                base_name = record["bn"]
            if "bt" in record:
                base_time = _number(record["bt"], "bt")
            if "bu" in record:
                if not isinstance(record["bu"], str):
                    raise ValueError("bu must be a string")
                base_unit = record["bu"]
            if "bv" in record:
                base_value = _number(record["bv"], "bv")
            if "bver" in record and record["bver"] not in (10,):
                raise ValueError("only SenML version 10 is read")
            has_value = "v" in record
            if not has_value:
                if {"vs", "vb", "vd", "s"} & record.keys():
                    raise ValueError("only numeric values (v) are observations here")
                if "n" not in record and "t" not in record:
                    continue  # a record of base fields only
                raise ValueError("the record has no value (v)")
            name = base_name + (record.get("n") or "")
            if station is not None and ":" not in name.removeprefix(URN_PREFIX):
                record_station, prop = station, name
            else:
                record_station, prop = split_name(name)
            if station is not None and record_station != station:
                raise ValueError(
                    f"station {record_station!r} in the name is not the topic's {station!r}"
                )
            if not prop:
                raise ValueError("the record names no property (n)")
            seconds = base_time + (_number(record["t"], "t") if "t" in record else 0.0)
            unit = record.get("u", base_unit)
            if unit is not None and not isinstance(unit, str):
                raise ValueError("u must be a string")
            readings.append(
                Reading(
                    index,
                    record_station,
                    prop,
                    epoch_time(seconds, now=now),
                    base_value + _value(record["v"]),
                    normalise_unit(unit) if unit else None,
                )
            )
        except ValueError as error:
            refusals.append(Refusal(index, str(error)))
    return readings, refusals


def _number(raw, field: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ValueError(f"{field} must be a finite number")
    return float(raw)
