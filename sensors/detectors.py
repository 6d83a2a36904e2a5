"""Anomaly detectors for one sensor series: pure numpy functions, no database.

Each detector takes the series as two arrays, the times in seconds since the epoch (sorted, no
duplicates) and the values, and returns `Finding`s: a kind, the time range it covers, the indices
of the observations it covers (none for a gap), a score (larger is stranger) and the numbers that
explain it (`details`; sensors/explanations.py words them in the reader's language).
`detect` runs all of them with one `DetectorParams`. The services (sensors/evaluation.py) load a
series with enough preceding context, call `detect`, and store what it finds; the benchmark
(bench/sensors_detectors.py) scores the same functions on synthetic series.

Why these shapes:
- Spikes and drops are judged against a robust baseline (median, MAD) of the neighbours on BOTH
  sides: a point is a spike when it stands out from the readings before it AND from the few after
  it, in the same direction. A flood rise stands out from the past but not from what follows, so it
  is a true event, not a fault. The price is a short delay: a point is judged once `spike_right`
  later readings exist.
- The robust scale has a floor (`min_scale`, in the property's unit): a quiet sensor has a MAD of
  nearly zero, and a reading one resolution step off would otherwise score as huge.
- A flat line is a run of (nearly) equal readings lasting at least `flatline_min_s`; some values are
  legitimately flat for days (rain gauges at 0), hence `flatline_exempt`.
- The seasonal baseline is the median per local hour of day over the previous `seasonal_days` days
  (traffic and cooking drive PM2.5 by the hour); a run of `seasonal_min_points` readings far from it
  is an anomaly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

KINDS = ("spike", "drop", "flatline", "gap", "out_of_range", "seasonal")
# 1.4826 * MAD estimates the standard deviation of normally distributed noise.
MAD_TO_SIGMA = 1.4826
DAY_S = 86_400.0
HOUR_S = 3_600.0


@dataclass(frozen=True)
class DetectorParams:
    """What the detectors look for in one series (units: seconds and the property's unit)."""

    spikes: bool = True
    spike_window: int = 12  # readings before the point that make its baseline
    spike_right: int = 3  # readings after it that must not follow it (a spike comes back)
    spike_threshold: float = 6.0  # in robust standard deviations
    min_scale: float = 0.0  # floor of the robust standard deviation
    flatline: bool = True
    flatline_min_s: float = 3 * HOUR_S
    flatline_min_points: int = 6
    flatline_tolerance: float = 0.0  # readings within this of the previous one count as equal
    flatline_exempt: float | None = None  # a value allowed to stay flat (a rain gauge's 0)
    gaps: bool = True
    gap_factor: float = 3.0  # a spacing over this many expected intervals is a gap
    expected_interval_s: float | None = None  # None: the median spacing of the series
    physical_min: float | None = None
    physical_max: float | None = None
    seasonal: bool = False
    seasonal_days: int = 14
    seasonal_min_days: int = 3  # fewer days of history: no baseline yet
    seasonal_threshold: float = 5.0
    seasonal_min_points: int = 3
    tz_offset_s: float = 7 * HOUR_S  # local hour of day (Vietnam: UTC+7, no daylight saving)

    def with_overrides(self, **overrides) -> DetectorParams:
        """Return a copy with the given fields changed (unknown names raise TypeError)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in overrides:
            if name not in values:
                raise TypeError(f"Unknown detector parameter {name!r}")
        values.update(overrides)
        return DetectorParams(**values)


@dataclass(frozen=True)
class Finding:
    """One anomaly found in a series; `details` holds what sensors/explanations.py words."""

    kind: str
    start_s: float
    end_s: float
    score: float
    indices: tuple[int, ...] = ()
    details: dict = field(default_factory=dict)


def detect(
    times_s: np.ndarray,
    values: np.ndarray,
    params: DetectorParams,
    *,
    evaluate_from_s: float | None = None,
) -> list[Finding]:
    """Run every detector; return findings that touch times at or after `evaluate_from_s`.

    Readings before `evaluate_from_s` are context (baselines, the start of a flat run); the caller
    merges a finding with one it stored before, so reporting a context range again is harmless.
    """
    times_s = np.asarray(times_s, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if times_s.shape != values.shape or times_s.ndim != 1:
        raise ValueError("times and values must be 1-D arrays of the same length")
    if len(times_s) and np.any(np.diff(times_s) <= 0):
        raise ValueError("times must be strictly increasing")
    findings: list[Finding] = []
    findings += detect_out_of_range(times_s, values, params)
    if params.spikes:
        out = {i for f in findings for i in f.indices}
        findings += detect_spikes(times_s, values, params, skip=out)
    if params.flatline:
        findings += detect_flatlines(times_s, values, params)
    if params.gaps:
        findings += detect_gaps(times_s, values, params)
    if params.seasonal:
        already = {i for f in findings for i in f.indices}
        findings += detect_seasonal(
            times_s, values, params, skip=already, evaluate_from_s=evaluate_from_s
        )
    if evaluate_from_s is not None:
        findings = [f for f in findings if f.end_s >= evaluate_from_s]
    return sorted(findings, key=lambda f: (f.start_s, f.kind))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Return the (first, last) indices of each run of True in a boolean array."""
    if not mask.any():
        return []
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def detect_out_of_range(
    times_s: np.ndarray, values: np.ndarray, params: DetectorParams
) -> list[Finding]:
    """Find runs of readings outside the property's physical range."""
    low, high = params.physical_min, params.physical_max
    if low is None and high is None:
        return []
    below = values < low if low is not None else np.zeros(len(values), bool)
    above = values > high if high is not None else np.zeros(len(values), bool)
    span = (high - low) if low is not None and high is not None and high > low else None
    findings = []
    for first, last in _runs(below | above):
        segment = values[first : last + 1]
        excess = np.maximum(
            (low - segment) if low is not None else 0, (segment - high) if high is not None else 0
        )
        worst = int(np.argmax(excess)) + first
        # The score grows with how far out it is, relative to the range's width when known.
        score = 1.0 + float(excess.max()) / span if span else 1.0 + float(excess.max())
        findings.append(
            Finding(
                kind="out_of_range",
                start_s=float(times_s[first]),
                end_s=float(times_s[last]),
                score=score,
                indices=tuple(range(first, last + 1)),
                details={
                    "value": float(values[worst]),
                    "min": low,
                    "max": high,
                    "count": last - first + 1,
                },
            )
        )
    return findings


def robust_scores(values: np.ndarray, params: DetectorParams) -> np.ndarray:
    """Return each reading's signed two-sided spike score (NaN where it cannot be judged yet).

    The point is compared with the median of the 3 readings just before it and of the
    `spike_right` readings just after it; the score is the smaller distance, in robust standard
    deviations, when both lie on the same side, else 0 (a level that moved and stayed is not a
    spike). The scale comes from the successive differences over `spike_window` readings before
    and `spike_right` after (their median, x 1.4826 / sqrt 2): a MAD around the median would count
    a tide's slope as noise and hide half a metre spikes; differences do not. It is at least
    `min_scale`.
    """
    w, r = params.spike_window, params.spike_right
    n = len(values)
    scores = np.full(n, np.nan)
    if n < w + r + 1:
        return scores
    windows = sliding_window_view(values, w + 1 + r)  # row k is centred on index k + w
    centre = windows[:, w]
    near = min(3, w)
    steps = np.abs(np.diff(windows, axis=1))
    noise = MAD_TO_SIGMA * np.median(steps, axis=1) / np.sqrt(2)
    scale = np.maximum(noise, max(params.min_scale, 1e-9))
    z_left = (centre - np.median(windows[:, w - near : w], axis=1)) / scale
    z_right = (centre - np.median(windows[:, w + 1 :], axis=1)) / scale
    same_side = np.sign(z_left) == np.sign(z_right)
    score = np.where(same_side, np.sign(z_left) * np.minimum(abs(z_left), abs(z_right)), 0.0)
    scores[w : n - r] = score
    return scores


def detect_spikes(
    times_s: np.ndarray,
    values: np.ndarray,
    params: DetectorParams,
    *,
    skip: set[int] | frozenset = frozenset(),
) -> list[Finding]:
    """Find spikes (up) and drops (down): readings far from their neighbours on both sides."""
    scores = robust_scores(values, params)
    if skip:
        scores[list(skip)] = 0.0
    findings = []
    k = params.spike_threshold
    for kind, mask in (("spike", scores > k), ("drop", scores < -k)):
        for first, last in _runs(np.nan_to_num(mask, nan=False).astype(bool)):
            segment = np.abs(scores[first : last + 1])
            worst = int(np.argmax(segment)) + first
            # The median the point was compared with: the neighbours before the run.
            before = values[max(0, first - params.spike_window) : first]
            baseline = float(np.median(before)) if len(before) else float("nan")
            findings.append(
                Finding(
                    kind=kind,
                    start_s=float(times_s[first]),
                    end_s=float(times_s[last]),
                    score=float(segment.max()),
                    indices=tuple(range(first, last + 1)),
                    details={
                        "value": float(values[worst]),
                        "baseline": baseline,
                        "deviations": float(segment.max()),
                    },
                )
            )
    return findings


def detect_flatlines(
    times_s: np.ndarray, values: np.ndarray, params: DetectorParams
) -> list[Finding]:
    """Find runs of equal readings (within `flatline_tolerance`) lasting `flatline_min_s`."""
    if len(values) < 2:
        return []
    same_as_previous = np.abs(np.diff(values)) <= params.flatline_tolerance
    findings = []
    for first_diff, last_diff in _runs(same_as_previous):
        first, last = first_diff, last_diff + 1
        count = last - first + 1
        duration = float(times_s[last] - times_s[first])
        if count < params.flatline_min_points or duration < params.flatline_min_s:
            continue
        value = float(values[first])
        exempt = params.flatline_exempt
        if exempt is not None and abs(value - exempt) <= params.flatline_tolerance:
            continue
        findings.append(
            Finding(
                kind="flatline",
                start_s=float(times_s[first]),
                end_s=float(times_s[last]),
                score=duration / params.flatline_min_s,
                indices=tuple(range(first, last + 1)),
                details={"value": value, "count": count, "duration_s": duration},
            )
        )
    return findings


def expected_interval(times_s: np.ndarray, params: DetectorParams) -> float | None:
    """Return the expected spacing of readings: the parameter, else the median spacing."""
    if params.expected_interval_s:
        return float(params.expected_interval_s)
    if len(times_s) < 3:
        return None
    return float(np.median(np.diff(times_s)))


def detect_gaps(times_s: np.ndarray, values: np.ndarray, params: DetectorParams) -> list[Finding]:
    """Find spacings longer than `gap_factor` expected intervals between two readings."""
    interval = expected_interval(times_s, params)
    if not interval or len(times_s) < 2:
        return []
    spacing = np.diff(times_s)
    findings = []
    for i in np.flatnonzero(spacing > params.gap_factor * interval):
        missing = round(float(spacing[i]) / interval) - 1
        findings.append(
            Finding(
                kind="gap",
                start_s=float(times_s[i]),
                end_s=float(times_s[i + 1]),
                score=float(spacing[i] / interval),
                details={
                    "missing": missing,
                    "expected_interval_s": interval,
                    "duration_s": float(spacing[i]),
                },
            )
        )
    return findings


def seasonal_baseline(
    times_s: np.ndarray,
    values: np.ndarray,
    params: DetectorParams,
    *,
    evaluate_from_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return per reading the median and robust scale of the same local hour on previous days.

    Only the `seasonal_days` whole days before the reading's day count, and only when at least
    `seasonal_min_days` of them have readings at that hour; otherwise NaN (also before the day
    of `evaluate_from_s`: those readings are context).
    """
    n = len(values)
    medians = np.full(n, np.nan)
    scales = np.full(n, np.nan)
    if n == 0:
        return medians, scales
    local = times_s + params.tz_offset_s
    day = np.floor(local / DAY_S).astype(np.int64)
    hour = (np.floor(local / HOUR_S).astype(np.int64)) % 24
    first_day = -np.inf
    if evaluate_from_s is not None:
        first_day = np.floor((evaluate_from_s + params.tz_offset_s) / DAY_S)
    for d in np.unique(day):
        if d < first_day:
            continue
        in_day = np.flatnonzero(day == d)
        history = (day >= d - params.seasonal_days) & (day < d)
        if not history.any():
            continue
        for h in np.unique(hour[in_day]):
            sample_mask = history & (hour == h)
            if len(np.unique(day[sample_mask])) < params.seasonal_min_days:
                continue
            sample = values[sample_mask]
            median = float(np.median(sample))
            mad = float(np.median(np.abs(sample - median)))
            targets = in_day[hour[in_day] == h]
            medians[targets] = median
            scales[targets] = max(MAD_TO_SIGMA * mad, params.min_scale, 1e-9)
    return medians, scales


def detect_seasonal(
    times_s: np.ndarray,
    values: np.ndarray,
    params: DetectorParams,
    *,
    skip: set[int] | frozenset = frozenset(),
    evaluate_from_s: float | None = None,
) -> list[Finding]:
    """Find runs of `seasonal_min_points` readings far from their hour-of-day baseline.

    A run of equal readings is left to the flat-line detector (a stuck sensor, not the air).
    """
    medians, scales = seasonal_baseline(times_s, values, params, evaluate_from_s=evaluate_from_s)
    z = (values - medians) / scales
    far = np.nan_to_num(np.abs(z) > params.seasonal_threshold, nan=False).astype(bool)
    if skip:
        far[list(skip)] = False
    findings = []
    for first, last in _runs(far):
        if last - first + 1 < params.seasonal_min_points:
            continue
        if np.ptp(values[first : last + 1]) <= params.flatline_tolerance:
            continue
        segment = z[first : last + 1]
        worst = int(np.argmax(np.abs(segment))) + first
        findings.append(
            Finding(
                kind="seasonal",
                start_s=float(times_s[first]),
                end_s=float(times_s[last]),
                score=float(np.abs(segment).max()),
                indices=tuple(range(first, last + 1)),
                details={
                    "value": float(values[worst]),
                    "baseline": float(medians[worst]),
                    "deviations": float(z[worst]),
                    "count": last - first + 1,
                    "days": params.seasonal_days,
                },
            )
        )
    return findings


# What suits each demo property, in its unit; any other property gets the defaults. A deployment
# changes them with the SENSORS_DETECTORS setting ({code: {field: value}}).
PROPERTY_PARAMS: dict[str, dict] = {
    # Tides move a gauge by ~2.5 cm per 10 min; its resolution is 1 cm.
    "water_level": {"min_scale": 0.02},
    # Rain comes in bursts that are real (a spike detector would flag every storm), and a dry
    # gauge reads 0 for days.
    "rainfall": {"spikes": False, "flatline_exempt": 0.0, "min_scale": 0.2},
    "salinity": {"min_scale": 0.1},
    "pm25": {"min_scale": 2.0, "flatline_min_s": 2 * HOUR_S},
    "temperature": {"min_scale": 0.2},
}


def params_for_property(
    code: str,
    *,
    physical_min: float | None = None,
    physical_max: float | None = None,
    seasonal: bool = False,
    overrides: dict | None = None,
) -> DetectorParams:
    """Return the detector parameters of a property: defaults, its profile, then overrides."""
    params = DetectorParams(physical_min=physical_min, physical_max=physical_max, seasonal=seasonal)
    return params.with_overrides(**{**PROPERTY_PARAMS.get(code, {}), **(overrides or {})})
