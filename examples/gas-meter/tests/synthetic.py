"""Synthetic magnetometer signals for the detector's tests, made independently of the
JavaScript simulator (a detector tuned only against one model of the signal would
prove little): a drum position θ(t) from a flow profile, the field on three axes, and
faults injected sample by sample.
"""

import math
import random


class Signal:
    """Builds a stream of samples; ``batches()`` cuts it into messages."""

    def __init__(self, seed=1, interval_ms=100, amplitude=30.0, noise=0.3,
                 earth=(18.0, -4.0, -40.0), gains=(1.0, 0.5, 0.2), harmonic=0.1, start_ms=1_768_456_800_000):
        self.rng = random.Random(seed)
        self.interval_ms = interval_ms
        self.amplitude = amplitude
        self.noise = noise
        self.earth = list(earth)
        self.gains = gains
        self.harmonic = harmonic
        self.start_ms = start_ms
        self.theta = 0.0
        self.samples = []   # [x, y, z] or None
        self.offset = [0.0, 0.0, 0.0]

    @property
    def rotations(self):
        """Whole rotations the drum has made so far."""
        return math.floor(self.theta + 1e-9)

    def _field(self):
        out = []
        for i, g in enumerate(self.gains):
            w = 2 * math.pi * self.theta + i * math.pi / 2
            magnet = self.amplitude * g * (math.cos(w) + self.harmonic * math.cos(2 * w + 0.8))
            out.append(round(self.earth[i] + self.offset[i] + magnet + self.rng.gauss(0, self.noise), 2))
        return out

    def run(self, seconds, period_s=None, drift_ut_per_s=0.0):
        """``seconds`` of signal with the drum turning once per ``period_s`` (None: still)."""
        n = int(round(seconds * 1000 / self.interval_ms))
        for _ in range(n):
            if period_s:
                self.theta += self.interval_ms / 1000 / period_s
            self.offset = [o + drift_ut_per_s * self.interval_ms / 1000 for o in self.offset]
            self.samples.append(self._field())
        return self

    def until_rotations(self, total, period_s):
        """Turns the drum until it has made ``total`` rotations, then stops it exactly there."""
        while self.theta < total - 1e-9:
            self.theta = min(total, self.theta + self.interval_ms / 1000 / period_s)
            self.samples.append(self._field())
        return self

    # -------------------------------------------------------------- faults

    def corrupt(self, probability, make):
        """Replaces each sample with ``make(rng, sample)`` with the given probability."""
        self.samples = [make(self.rng, s) if s is not None and self.rng.random() < probability else s for s in self.samples]
        return self

    def bursts(self, per_second, length, make):
        """Bursts of ``length`` (lo, hi) samples replaced by ``make(rng, sample)``, ``per_second`` of them on average."""
        p = per_second * self.interval_ms / 1000
        i = 0
        while i < len(self.samples):
            if self.rng.random() < p:
                n = self.rng.randint(*length)
                for j in range(i, min(i + n, len(self.samples))):
                    self.samples[j] = make(self.rng, self.samples[j])
                i += n
            i += 1
        return self

    def batches(self, size=50):
        """(t0_ms, interval_ms, samples) per message."""
        for i in range(0, len(self.samples), size):
            yield self.start_ms + i * self.interval_ms, self.interval_ms, self.samples[i:i + size]


# Fault makers: (rng, sample) → replacement.
def null(_rng, _s):
    return None


def zeros(_rng, _s):
    return [0, 0, 0]


def rail(rng, _s):
    return [rng.choice((-800, 800)) for _ in range(3)]


def random_bytes(rng, _s):
    return [round(rng.uniform(-800, 800), 2) for _ in range(3)]


def spike(rng, s):
    s = list(s)
    s[rng.randrange(3)] += rng.choice((-1, 1)) * rng.uniform(40, 400)
    return s
