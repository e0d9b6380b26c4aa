"""Unit tests of the rotation detector (functions/detector.py), standard library only:

    python3 -m unittest discover -s examples/gas-meter/tests -v

Synthetic signals (tests/synthetic.py) check each difficulty alone and together; the
recorded file in data/ checks the whole thing on what the simulator publishes. Every
stream is fed the way the function feeds it: a fresh detector per message, given the
state the previous one left, through a JSON round trip (the state is stored as JSON).
"""

import json
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in functions/: it would be packaged with them
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(EXAMPLE, 'functions'))
sys.path.insert(0, HERE)

from detector import DetectorConfig, RotationDetector  # noqa: E402
import synthetic as syn  # noqa: E402

DATA = os.path.join(EXAMPLE, 'data', 'gas-meter-1.2026-01-15.ndjson')
TRUTH = os.path.join(EXAMPLE, 'data', 'gas-meter-1.2026-01-15.truth.json')


def count(batches, config=None, state=None):
    """Rotation times over all batches, and the final state, as the function computes them."""
    times = []
    for t0, interval, samples in batches:
        d = RotationDetector(config, state)
        times += d.feed(t0, interval, samples)
        state = json.loads(json.dumps(d.state()))
    return times, state


class CleanSignals(unittest.TestCase):
    def test_steady_flow_counts_every_rotation(self):
        sig = syn.Signal(noise=0.0).run(5).until_rotations(20, period_s=18).run(10)
        times, state = count(sig.batches())
        self.assertEqual(len(times), 20)
        self.assertEqual(state['stats']['rotations'], 20)
        self.assertEqual(times, sorted(times))

    def test_rotation_times_follow_the_drum(self):
        # 18 s per rotation: consecutive counts are 18 s apart (to within a few samples).
        sig = syn.Signal(noise=0.3).run(5).until_rotations(10, period_s=18).run(10)
        times, _ = count(sig.batches())
        gaps = [(b - a) / 1000 for a, b in zip(times, times[1:])]
        self.assertEqual(len(times), 10)
        for g in gaps:
            self.assertAlmostEqual(g, 18, delta=0.5)

    def test_the_axis_with_the_largest_swing_is_chosen(self):
        sig = syn.Signal(gains=(0.15, 0.3, 1.0))
        sig.theta = 0.5  # z (phase π here) starts at its peak; see test_where_the_drum_stood_at_the_start
        sig.run(5).until_rotations(8.5, period_s=12).run(10)
        times, state = count(sig.batches())
        self.assertEqual(state['axis'], 2)
        self.assertEqual(len(times), 8)

    def test_where_the_drum_stood_at_the_start(self):
        # The detector learns the signal's direction from its first move, and counts a
        # rotation at each rise after a valley. From a peak (or anywhere on the way down)
        # the first valley is seen, so the first rotation counts; from a valley (or on the
        # way up) it is not: a brand-new meter's first rotation may go uncounted, once,
        # never one counted that did not happen.
        for theta0, expected in ((0.0, 8), (0.25, 8), (0.5, 7), (0.75, 7)):
            with self.subTest(start=theta0):
                sig = syn.Signal(gains=(1.0, 0.3, 0.1))
                sig.theta = theta0
                sig.run(5).until_rotations(theta0 + 8, period_s=12).run(10)
                times, _ = count(sig.batches())
                self.assertEqual(len(times), expected)

    def test_a_configured_axis_is_used(self):
        sig = syn.Signal(gains=(1.0, 0.5, 0.2)).run(5).until_rotations(8, period_s=12).run(10)
        times, state = count(sig.batches(), DetectorConfig(axis='y'))
        self.assertEqual(state['axis'], 1)
        self.assertEqual(len(times), 8)

    def test_five_samples_a_second_at_the_fastest_flow(self):
        # A G4 at Qmax (6 m³/h) turns its 10 L drum every 6 s: 30 samples per turn at 5 Hz.
        sig = syn.Signal(interval_ms=200).run(5).until_rotations(20, period_s=6).run(10)
        times, _ = count(sig.batches(size=25))
        self.assertEqual(len(times), 20)


class Noise(unittest.TestCase):
    def test_heavy_noise(self):
        # σ = 2 µT on a 30 µT magnet: the swing is 60 µT peak to peak, 30 σ.
        sig = syn.Signal(noise=2.0, seed=3).run(5).until_rotations(25, period_s=10).run(10)
        times, _ = count(sig.batches())
        self.assertEqual(len(times), 25)

    def test_noise_alone_counts_nothing(self):
        sig = syn.Signal(noise=1.0, seed=4).run(1200)
        times, state = count(sig.batches())
        self.assertEqual(times, [])
        # The noise estimate (from second differences) finds σ.
        d = RotationDetector(state=state)
        self.assertIsNone(d.axis)
        sigma = state['axes'][0]['noise'] / 1.954
        self.assertAlmostEqual(sigma, 1.0, delta=0.15)

    def test_a_weak_magnet(self):
        # 4 µT peak to peak with σ = 0.2: still 20 σ.
        sig = syn.Signal(amplitude=2.0, noise=0.2, seed=5).run(5).until_rotations(15, period_s=20).run(10)
        times, _ = count(sig.batches())
        self.assertEqual(len(times), 15)

    def test_a_strong_second_harmonic_is_not_counted_twice(self):
        # Up to a quarter of the fundamental the waveform keeps one peak per period.
        sig = syn.Signal(harmonic=0.22, seed=6).run(5).until_rotations(15, period_s=15).run(10)
        times, _ = count(sig.batches())
        self.assertEqual(len(times), 15)


class VaryingFlow(unittest.TestCase):
    def test_from_qmax_to_qmin_and_back(self):
        # 6 s per rotation (6 m³/h) to 900 s (0.04 m³/h, a G4's Qmin): δ is a fraction of the
        # swing, not of time, so the rate does not matter.
        sig = syn.Signal(seed=7).run(5)
        sig.until_rotations(5, period_s=6).until_rotations(6, period_s=900)
        sig.until_rotations(9, period_s=60).until_rotations(13, period_s=6).run(10)
        times, _ = count(sig.batches())
        self.assertEqual(len(times), 13)

    def test_long_pauses_with_drift_count_nothing_extra(self):
        # The drum stops anywhere (here mid-swing) for 20 minutes while the offset drifts
        # 3 µT, twice; counting resumes with the flow.
        sig = syn.Signal(seed=8).run(5).until_rotations(3.4, period_s=12)
        sig.run(1200, drift_ut_per_s=3 / 1200).until_rotations(6.75, period_s=25)
        sig.run(1200, drift_ut_per_s=-3 / 1200).until_rotations(10, period_s=8).run(10)
        times, _ = count(sig.batches())
        self.assertEqual(len(times), 10)

    def test_a_stop_exactly_at_a_threshold_is_not_a_rotation(self):
        # Stopped where a crossing is being confirmed: noise around it must not count.
        sig = syn.Signal(seed=9, noise=0.5)
        sig.run(5).until_rotations(4.83, period_s=10).run(900).until_rotations(8, period_s=10).run(10)
        times, _ = count(sig.batches())
        self.assertEqual(len(times), 8)


class Faults(unittest.TestCase):
    def test_failed_reads(self):
        # 2 % of samples lost in runs of 1-10 (a second at most at 10 Hz).
        sig = syn.Signal(seed=10).run(5).until_rotations(20, period_s=12).run(10)
        sig.bursts(0.1, (1, 10), syn.null)  # one run every 10 s on average: ~5 % of the samples
        times, state = count(sig.batches())
        self.assertEqual(len(times), 20)
        self.assertGreater(state['stats']['invalid'], 50)

    def test_spikes(self):
        sig = syn.Signal(seed=11).run(5).until_rotations(20, period_s=12).run(10)
        sig.corrupt(0.02, syn.spike)
        times, state = count(sig.batches())
        self.assertEqual(len(times), 20)
        self.assertGreater(state['stats']['outliers'], 20)

    def test_garbage_bursts(self):
        for make in (syn.zeros, syn.rail, syn.random_bytes):
            with self.subTest(garbage=make.__name__):
                sig = syn.Signal(seed=12).run(5).until_rotations(20, period_s=15).run(10)
                sig.bursts(0.02, (5, 20), make)  # one burst every ~50 s, up to 2 s long
                times, state = count(sig.batches())
                self.assertEqual(len(times), 20)
                self.assertGreater(state['stats']['invalid'] + state['stats']['outliers'], 50)

    def test_random_bytes_do_not_get_through_the_gate(self):
        sig = syn.Signal(seed=20).run(5).until_rotations(50, period_s=10)
        rng = syn.random.Random(1)
        injected = 0
        for i in range(300, len(sig.samples)):
            if rng.random() < 0.05:
                sig.samples[i] = syn.random_bytes(rng, None)
                injected += 1
        times, state = count(sig.batches())
        self.assertEqual(len(times), 50)
        self.assertEqual(state['stats']['outliers'], injected)  # every one of them rejected

    def test_everything_at_once(self):
        sig = syn.Signal(seed=13, noise=0.8).run(5)
        sig.until_rotations(6, period_s=8).run(600).until_rotations(12, period_s=40).until_rotations(20, period_s=10).run(10)
        sig.bursts(0.01, (1, 10), syn.null).corrupt(0.01, syn.spike)
        sig.bursts(0.005, (5, 20), syn.random_bytes).bursts(0.005, (5, 20), syn.zeros)
        times, _ = count(sig.batches())
        self.assertEqual(len(times), 20)

    def test_a_gap_is_counted_and_survived(self):
        sig = syn.Signal(seed=14).run(5).until_rotations(10, period_s=20).run(10)
        batches = list(sig.batches())
        del batches[20]  # a lost 5 s batch, while the drum was half-way through a 20 s turn
        times, state = count(batches)
        self.assertEqual(len(times), 10)
        self.assertEqual(state['stats']['gaps'], 1)
        self.assertEqual(state['stats']['gap_ms'], 5100)

    def test_the_sensor_moved_away(self):
        # The magnet's field at the sensor drops to a quarter: the swing average adapts
        # (by at most half per swing, then the fine detector resets it); at most two
        # rotations go uncounted while it does.
        sig = syn.Signal(seed=15).run(5).until_rotations(10, period_s=12)
        sig.amplitude = 7.5
        sig.until_rotations(25, period_s=12).run(10)
        times, _ = count(sig.batches())
        self.assertGreaterEqual(len(times), 23)
        self.assertLessEqual(len(times), 25)
        late = [t for t in times if t > sig.start_ms + (5 + 19 * 12) * 1000]
        self.assertEqual(len(late), 6)  # rotations 20-25: all counted once it has adapted

    def test_the_sensor_moved_closer(self):
        sig = syn.Signal(seed=16).run(5).until_rotations(10, period_s=12)
        sig.amplitude = 120
        sig.until_rotations(25, period_s=12).run(10)
        times, _ = count(sig.batches())
        self.assertEqual(len(times), 25)


class AtLeastOnce(unittest.TestCase):
    def test_a_redelivered_message_counts_once(self):
        sig = syn.Signal(seed=17).run(5).until_rotations(10, period_s=10).run(10)
        batches = list(sig.batches())
        doubled = []
        for b in batches:
            doubled += [b, b]  # QoS 1: each message delivered twice
        once, _ = count(batches)
        twice, state = count(doubled)
        self.assertEqual(twice, once)
        self.assertEqual(len(twice), 10)
        self.assertEqual(state['stats']['duplicates'], len(sig.samples))

    def test_overlapping_batches(self):
        # An ESP that resends its last 10 samples with the next batch.
        sig = syn.Signal(seed=18).run(5).until_rotations(10, period_s=10).run(10)
        batches = []
        for i in range(0, len(sig.samples), 50):
            lo = max(0, i - 10)
            batches.append((sig.start_ms + lo * 100, 100, sig.samples[lo:i + 50]))
        times, _ = count(batches)
        self.assertEqual(len(times), 10)

    def test_one_detector_or_one_per_message_agree(self):
        sig = syn.Signal(seed=19).run(5).until_rotations(12, period_s=9).run(10).corrupt(0.01, syn.spike)
        per_message, state_a = count(sig.batches())
        d = RotationDetector()
        whole = []
        for t0, interval, samples in sig.batches():
            whole += d.feed(t0, interval, samples)
        self.assertEqual(per_message, whole)
        self.assertEqual(state_a, json.loads(json.dumps(d.state())))

    def test_an_old_state_version_starts_afresh(self):
        d = RotationDetector(state={'v': 0, 'whatever': 1})
        self.assertEqual(d.state()['v'], 1)
        self.assertEqual(d.feed(1_768_456_800_000, 100, [None, [1, 2, 3]]), [])


class Config(unittest.TestCase):
    def test_from_env(self):
        c = DetectorConfig.from_env({'DETECTOR_AXIS': 'z', 'DETECTOR_HYSTERESIS': '0.4', 'DETECTOR_DEBOUNCE': '3', 'OTHER': 'x'})
        self.assertEqual((c.axis, c.hysteresis, c.debounce), ('z', 0.4, 3))
        self.assertEqual(DetectorConfig.from_env({}), DetectorConfig())

    def test_bad_values_are_named(self):
        with self.assertRaisesRegex(ValueError, 'DETECTOR_AXIS must be auto, x, y or z'):
            DetectorConfig.from_env({'DETECTOR_AXIS': 'w'})
        with self.assertRaisesRegex(ValueError, 'DETECTOR_DEBOUNCE must be a number'):
            DetectorConfig.from_env({'DETECTOR_DEBOUNCE': 'two'})
        with self.assertRaisesRegex(ValueError, 'DETECTOR_HYSTERESIS must be a non-negative number'):
            DetectorConfig.from_env({'DETECTOR_HYSTERESIS': '-1'})


class RecordedData(unittest.TestCase):
    """The file in data/: what the simulator published, corrupted copies included."""

    def setUp(self):
        with open(TRUTH, encoding='utf-8') as f:
            self.truth = json.load(f)
        self.batches, self.corrupt = [], 0
        with open(DATA, encoding='utf-8') as f:
            for line in f:
                try:
                    m = json.loads(line)
                except ValueError:
                    self.corrupt += 1
                    continue
                self.batches.append((m['t0'], m['interval_ms'], m['samples']))

    def test_counts_every_rotation(self):
        times, state = count(self.batches)
        self.assertEqual(self.corrupt, self.truth['corrupted'])
        self.assertEqual(len(times), self.truth['rotations'])
        self.assertEqual(state['axis'], 0)
        self.assertEqual(state['stats']['samples'], self.truth['samples'])
        # Failed reads and the zero/rail bursts are invalid; spikes and random bytes are outliers.
        self.assertGreaterEqual(state['stats']['invalid'], self.truth['nulls'])
        self.assertGreaterEqual(state['stats']['outliers'], self.truth['spikes'] // 2)

    def test_each_count_is_near_a_real_rotation(self):
        # The detector counts a rotation when the rise after a valley is confirmed: 1/6 of a
        # turn before the drum completes it with this mounting, plus the filter's lag. Each
        # count must fall within one rotation's time of the rotation it stands for.
        times, _ = count(self.batches)
        start = self.batches[0][0]
        real = [start + t for t in self.truth['rotationTimesMs']]
        self.assertEqual(len(times), len(real))
        for i, (got, want) in enumerate(zip(times, real)):
            previous = real[i - 1] if i else start
            self.assertLess(abs(got - want), want - previous, 'rotation %d' % (i + 1))


if __name__ == '__main__':
    unittest.main()
