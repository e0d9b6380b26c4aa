"""Counts a gas meter's drum rotations in a 3-axis magnetometer signal.

The rightmost drum of the meter carries a magnet: at a sensor beside it, the field
turns once per rotation, so every axis sees one period per rotation on top of the
Earth's field. Counting rotations is counting periods, in a signal that is noisy,
drifts, stops for hours, runs anywhere from one period in 6 s (a G4 meter at its Qmax
of 6 m³/h, 10 L per rotation) to one in 15 min (its Qmin, 0.04 m³/h), and is sometimes
garbage. All the state is plain JSON, stored between messages: the function's replicas
are stateless and scale to zero.

Each sample goes through four steps:

1. **Validity.** ``null`` (a failed read), non-numbers, a reading at the sensor's rail
   (clipped, not measured) and a field under ``min_field_ut`` are dropped. The Earth's
   field alone is 22-67 µT everywhere, so a near-zero vector is an all-zero register
   read after a bus error, not a measurement.
2. **Slew-rate gate, on all three axes at once.** The field can only change as fast as
   the drum turns it: a sinusoid of peak-to-peak P and period T changes by at most
   π·P/T per second, and never by more than P. A sample further from an axis' filtered
   value than ``slew_margin`` × π·P·Δt/T (capped at 2·P) plus 5 σ of noise, on any
   axis, is an outlier (a spike, random bytes); Δt is the age of the filtered value, so
   the gate opens as time passes without good data. Random garbage must pass on three
   axes together, which it almost never does, even though each axis' bound is generous.
   After ``reset_after_s`` of nothing but rejections the filters start afresh (the
   sensor was moved, say), so the gate cannot lock a real signal out for good.
3. **Median of 5** per axis, on what passed: up to two bad samples among five change
   nothing. Noise is estimated on the way from second differences: for white noise of
   σ, x[i+1] − 2·x[i] + x[i−1] has a standard deviation of √6·σ, while the signal
   contributes almost nothing at 10 samples per second.
4. **Peak/valley detection with hysteresis** (a Schmitt trigger whose thresholds follow
   the signal). The detector looks for a peak until the filtered signal has fallen δ
   below its running maximum, then for a valley until it has risen δ above its running
   minimum; each confirmed rise after a valley is one rotation. Offsets and drift do not
   matter (only movements do), and a stopped drum changes nothing. δ is ``hysteresis`` ×
   the peak-to-peak of recent swings (averaged over swings, not over time, so a long
   pause does not shrink it), never less than ``noise_sigmas`` × σ; until a full swing
   has been measured, it is that fraction of the range seen so far.

Why these numbers (each is a field of :class:`DetectorConfig`, settable from the
environment as ``DETECTOR_<NAME>``):

- ``hysteresis = 0.5``: half a swing. Bumps smaller than that (the waveform's second
  harmonic, another wheel's magnet) are ignored, and a swing that suddenly shrinks to
  half its usual size is still counted, after which δ follows it.
- ``noise_sigmas = 8``: the median leaves about 0.55 σ of noise, so a false swing by
  noise alone would be a > 14 σ event: never, at 864,000 samples a day.
- ``debounce = 2``: a crossing must hold for two filtered samples, so one odd value that
  slipped through steps 2 and 3 cannot flip the state.
- ``min_period_s = 4``: faster than any G4 turns (6 s per 10 L at Qmax), with margin.
- ``slew_margin = 6``: the filtered value lags the input by two samples and harmonics
  steepen the waveform; even so, with three axes gated together, random bytes almost
  never get through (none of a thousand, on a 60 µT swing, in the example's tests).
- ``prior_swing_ut = 200``: what the gate allows for before a swing has been measured (a
  strong magnet close to the sensor); validity (step 1) catches the common garbage.
- ``swing_alpha = 0.3``, each swing clamped to 0.5-2 × the average: δ adapts within a
  few rotations when the sensor is moved, and one distorted swing moves it 30 % at most.
- ``max_gap_s = 2``: longer without valid data is a gap, counted in the statistics. The
  state is kept across it; a gap longer than half a rotation can hide one.

Which axis: ``axis="auto"`` watches all three until one has swung a full period, then
counts on the one with the largest range (with the rotations it had already seen).
``x``, ``y`` or ``z`` fixes it where the mounting is known.

A swing that shrinks below δ (the sensor moved away) would never be counted again, so
a second, fine detector runs with δ at the noise floor; when it sees four consistent
swings (two periods, each ≥ 3 × the noise floor, within 1.5× of each other) without a
count in between, the swing average is reset to theirs.

The first rotation: the detector learns which way the signal is going from its first
move. Started anywhere on the way down, it sees the next valley and counts the rotation
that follows; started on the way up, it does not. So a brand-new meter's first rotation
may go uncounted, once, and no rotation is ever counted that did not happen.

Duplicates: samples at or before the newest time already processed are skipped, so a
message delivered twice (MQTT QoS 1 is at-least-once) counts once.
"""

import math
from dataclasses import dataclass, fields

AXES = ('x', 'y', 'z')
STATE_VERSION = 1


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's tunables; see the module documentation for why each has its value."""

    axis: str = 'auto'
    sensor_range_ut: float = 800.0  # QMC5883L at ±8 G: readings at the rail are clipped
    min_field_ut: float = 5.0
    hysteresis: float = 0.5
    noise_sigmas: float = 8.0
    min_delta_ut: float = 1.0  # floor under δ, for sensors quieter than their quantisation
    debounce: int = 2
    min_period_s: float = 4.0
    slew_margin: float = 6.0
    prior_swing_ut: float = 200.0  # peak-to-peak the gate allows for before one is measured
    swing_alpha: float = 0.3
    max_gap_s: float = 2.0
    reset_after_s: float = 5.0

    @classmethod
    def from_env(cls, env, prefix='DETECTOR_'):
        """Reads ``DETECTOR_<FIELD>`` overrides (e.g. ``DETECTOR_AXIS=x``); raises ValueError naming a bad one."""
        values = {}
        for f in fields(cls):
            raw = env.get(prefix + f.name.upper())
            if raw is None or raw == '':
                continue
            if f.name == 'axis':
                if raw not in ('auto',) + AXES:
                    raise ValueError('%s%s must be auto, x, y or z, not %r' % (prefix, f.name.upper(), raw))
                values[f.name] = raw
                continue
            try:
                value = int(raw) if f.type in (int, 'int') else float(raw)
            except ValueError:
                raise ValueError('%s%s must be a number, not %r' % (prefix, f.name.upper(), raw)) from None
            if not math.isfinite(value) or value < 0:
                raise ValueError('%s%s must be a non-negative number, not %r' % (prefix, f.name.upper(), raw))
            values[f.name] = value
        return cls(**values)


# For Gaussian noise of σ, the second difference is N(0, 6σ²) and its mean absolute value
# is √6 · √(2/π) · σ ≈ 1.954 σ.
_D2_MEAN_ABS_PER_SIGMA = math.sqrt(6) * math.sqrt(2 / math.pi)


def _median(win):
    """The median entry ``[t, value]`` of a window (by value): its time says how old it is."""
    return sorted(win, key=lambda e: e[1])[len(win) // 2]


def _new_axis():
    return {
        'win': [],        # the last (up to) 5 accepted [time, value], for the median
        'd2': [],         # the last (up to) 3 contiguous accepted values, for the noise estimate
        'noise': None,    # running mean of |second difference|
        'noise_n': 0,
        'dir': 0,         # +1 looking for a peak, -1 looking for a valley, 0 not yet known
        'hi': None,       # running maximum (while dir >= 0)
        'lo': None,       # running minimum (while dir <= 0)
        'peak': None,     # last confirmed peak and valley
        'valley': None,
        'swing': None,    # average peak-to-peak of confirmed swings
        'range': [None, None],  # min and max seen, for δ before the first swing and for choosing the axis
        'pending': 0,     # debounce count
        'fine': {'dir': 0, 'hi': None, 'lo': None, 'turns': []},  # the safety net's own peak/valley detector
        'rotations': [],  # times of rotations not yet reported (before the axis is chosen)
    }


class RotationDetector:
    """Feed it batches of samples; it returns the times of the rotations they complete.

    ``state`` is what :meth:`state` returned last time (JSON-compatible), or None.
    """

    def __init__(self, config=None, state=None):
        self.config = config or DetectorConfig()
        if state is None or state.get('v') != STATE_VERSION:
            state = {
                'v': STATE_VERSION,
                'last_t': None,      # newest sample time processed (ms)
                'seen_t': None,      # newest valid sample time (ms)
                'good_t': None,      # newest accepted sample time (ms)
                'axis': None if self.config.axis == 'auto' else AXES.index(self.config.axis),
                'axes': None,        # per-axis state: all three are tracked, `axis` is the one counted
                'rejected_since': None,
                'stats': {'samples': 0, 'duplicates': 0, 'invalid': 0, 'outliers': 0, 'gaps': 0, 'gap_ms': 0, 'rotations': 0, 'resets': 0},
            }
        if state['axes'] is None:
            state['axes'] = [_new_axis() for _ in AXES]
        self._s = state

    def state(self):
        """The detector's state, to store and pass back next time."""
        return self._s

    @property
    def axis(self):
        """The axis counted on ("x", "y", "z"), or None while still choosing."""
        return None if self._s['axis'] is None else AXES[self._s['axis']]

    @property
    def delta(self):
        """The current hysteresis δ (µT) of the counted axis, or None while choosing."""
        return None if self._s['axis'] is None else self._delta(self._s['axes'][self._s['axis']])

    @property
    def sigma(self):
        """Estimated noise σ (µT) of the counted axis, or None."""
        return None if self._s['axis'] is None else self._sigma(self._s['axes'][self._s['axis']])

    def feed(self, t0_ms, interval_ms, samples):
        """Processes one batch: ``samples[i]`` was read at ``t0_ms + i * interval_ms``.

        A sample is ``[x, y, z]`` in µT, or None for a failed read. Returns the list of
        rotation times (ms), in order.
        """
        out = []
        s = self._s
        stats = s['stats']
        for i, sample in enumerate(samples):
            t = int(round(t0_ms + i * interval_ms))
            if s['last_t'] is not None and t <= s['last_t']:
                stats['duplicates'] += 1
                continue
            s['last_t'] = t
            stats['samples'] += 1
            vec = self._valid(sample)
            if vec is None:
                stats['invalid'] += 1
                continue
            if s['seen_t'] is not None and t - s['seen_t'] > self.config.max_gap_s * 1000:
                # Missing data (failed reads, lost batches): the filters keep their values, the
                # gate allows for the time that passed, and the gap is counted.
                stats['gaps'] += 1
                stats['gap_ms'] += t - s['seen_t']
            s['seen_t'] = t
            if any(self._outlier(a, v, t) for a, v in zip(s['axes'], vec)):
                stats['outliers'] += 1
                if s['rejected_since'] is None:
                    s['rejected_since'] = t
                if t - s['rejected_since'] < self.config.reset_after_s * 1000:
                    continue
                # Rejected for too long: not an outlier but a new level. Start the filters afresh.
                stats['resets'] += 1
                for a in s['axes']:
                    a['win'] = []
                    a['d2'] = []
            s['rejected_since'] = None
            contiguous = s['good_t'] is not None and abs(t - s['good_t'] - interval_ms) < 0.5 * interval_ms
            for a, v in zip(s['axes'], vec):
                self._noise(a, v, contiguous)
                a['win'] = (a['win'] + [[t, v]])[-5:]
                self._track(a, _median(a['win'])[1], t)
            s['good_t'] = t
            if s['axis'] is None:
                self._maybe_choose_axis()
            if s['axis'] is not None:
                # Every axis is tracked (the gate needs all three), rotations are counted on one.
                for k, a in enumerate(s['axes']):
                    if k == s['axis']:
                        out.extend(a['rotations'])
                    a['rotations'] = []
        stats['rotations'] += len(out)
        return out

    # ------------------------------------------------------------------ steps

    def _valid(self, sample):
        if not isinstance(sample, (list, tuple)) or len(sample) != 3:
            return None
        vec = []
        for v in sample:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return None
            if abs(v) >= self.config.sensor_range_ut:
                return None
            vec.append(float(v))
        if math.sqrt(vec[0] ** 2 + vec[1] ** 2 + vec[2] ** 2) < self.config.min_field_ut:
            return None
        return vec

    def _sigma(self, a):
        return a['noise'] / _D2_MEAN_ABS_PER_SIGMA if a['noise'] is not None else 0.0

    def _outlier(self, a, v, t):
        """Step 2: further from the filtered value than the drum can move the field since then."""
        if not a['win']:
            return False
        c = self.config
        med_t, med = _median(a['win'])
        dt_s = (t - med_t) / 1000
        if a['swing'] is not None:
            # A sinusoid never moves further than its peak-to-peak, however long the wait: allow
            # twice the measured one (a swing may grow, the first is measured on part of a period).
            swing, cap = a['swing'], 2 * a['swing']
        else:
            swing = cap = c.prior_swing_ut
        limit = min(c.slew_margin * math.pi * swing * dt_s / c.min_period_s, cap) + 5 * self._sigma(a)
        return abs(v - med) > limit

    def _noise(self, a, v, contiguous):
        """Running mean of |x[i] − 2·x[i−1] + x[i−2]| over contiguous accepted samples."""
        if not contiguous:
            a['d2'] = [v]
            return
        a['d2'] = (a['d2'] + [v])[-3:]
        if len(a['d2']) < 3:
            return
        x2, x1, x0 = a['d2']
        d = abs(x0 - 2 * x1 + x2)
        if a['noise'] is None:
            a['noise'], a['noise_n'] = d, 1
        elif a['noise_n'] < 32:
            # A plain mean until there is something to compare with.
            a['noise_n'] += 1
            a['noise'] += (d - a['noise']) / a['noise_n']
        else:
            # Then an exponential average over ~50 samples, winsorised so that what slipped
            # through the gate does not inflate it.
            a['noise'] += 0.02 * (min(d, 4 * a['noise']) - a['noise'])

    def _floor(self, a):
        return max(self.config.min_delta_ut, self.config.noise_sigmas * self._sigma(a))

    def _delta(self, a):
        if a['swing'] is not None:
            basis = a['swing']
        else:
            lo, hi = a['range']
            basis = (hi - lo) if lo is not None else 0.0
        return max(self._floor(a), self.config.hysteresis * basis)

    def _update_swing(self, a):
        if a['peak'] is None or a['valley'] is None:
            return
        swing = a['peak'] - a['valley']
        if a['swing'] is None:
            a['swing'] = swing
        else:
            swing = min(max(swing, 0.5 * a['swing']), 2 * a['swing'])
            a['swing'] += self.config.swing_alpha * (swing - a['swing'])

    def _track(self, a, y, t):
        """Step 4: peak/valley detection with hysteresis δ on the filtered value y."""
        lo, hi = a['range']
        a['range'] = [y if lo is None else min(lo, y), y if hi is None else max(hi, y)]
        if a['noise_n'] < 8:
            return  # no noise estimate yet, so no δ floor: decide nothing on the first samples
        delta = self._delta(a)
        need = self.config.debounce
        if a['dir'] >= 0:
            a['hi'] = y if a['hi'] is None else max(a['hi'], y)
        if a['dir'] <= 0:
            a['lo'] = y if a['lo'] is None else min(a['lo'], y)
        if a['dir'] >= 0 and y <= a['hi'] - delta:
            a['pending'] += 1
            if a['pending'] >= need:
                # Past a peak: now looking for a valley.
                a['peak'], a['dir'], a['lo'], a['hi'], a['pending'] = a['hi'], -1, y, None, 0
                self._update_swing(a)
        elif a['dir'] <= 0 and y >= a['lo'] + delta:
            a['pending'] += 1
            if a['pending'] >= need:
                # Past a valley: a full period since the last one, one rotation (unless this is the first).
                counted = a['dir'] == -1
                a['valley'], a['dir'], a['hi'], a['lo'], a['pending'] = a['lo'], 1, y, None, 0
                self._update_swing(a)
                if counted:
                    a['rotations'].append(t)
                    a['fine']['turns'] = []
        else:
            a['pending'] = 0
        self._fine(a, y)

    def _fine(self, a, y):
        """The safety net: swings at the noise floor that the main detector does not count."""
        f = a['fine']
        floor = self._floor(a)
        if f['dir'] >= 0:
            f['hi'] = y if f['hi'] is None else max(f['hi'], y)
        if f['dir'] <= 0:
            f['lo'] = y if f['lo'] is None else min(f['lo'], y)
        if f['dir'] >= 0 and y <= f['hi'] - floor:
            turn, f['dir'], f['lo'], f['hi'] = f['hi'], -1, y, None
        elif f['dir'] <= 0 and y >= f['lo'] + floor:
            turn, f['dir'], f['hi'], f['lo'] = f['lo'], 1, y, None
        else:
            return
        # A turning point: keep the last five, i.e. the four swings between them.
        f['turns'] = (f['turns'] + [turn])[-5:]
        if len(f['turns']) < 5:
            return
        sizes = [abs(f['turns'][i + 1] - f['turns'][i]) for i in range(4)]
        smallest = min(sizes)
        if smallest >= 3 * floor and max(sizes) <= 1.5 * smallest and self._delta(a) > smallest:
            # Two periods the main detector cannot see: its δ is too large. Adopt these swings.
            a['swing'] = sum(sizes) / 4
            f['turns'] = []

    def _maybe_choose_axis(self):
        """``axis=auto``: once an axis has swung a full period, keep the one with the largest range."""
        s = self._s
        axes = s['axes']
        if not any(a['peak'] is not None and a['valley'] is not None for a in axes):
            return
        ranges = [(a['range'][1] - a['range'][0]) if a['range'][0] is not None else 0.0 for a in axes]
        best = max(range(3), key=lambda i: ranges[i])
        s['axis'] = best
