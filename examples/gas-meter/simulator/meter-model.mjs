/**
 * A gas meter, its magnet and an ESP reading a 3-axis magnetometer beside it, as
 * numbers: the model behind simulate.mjs. Plain JavaScript, no dependencies, and
 * deterministic: the same options (seed included) give the same messages, byte for byte.
 *
 * The physics, kept simple but honest:
 * - The rightmost drum of a G4 diaphragm meter (Elster BK-G4 and the like) turns once
 *   per 0.01 m³ (10 L; the nameplate says "1 imp = 0.01 m³") and carries a small magnet.
 *   Its field at the sensor is a vector turning with the drum: one period per rotation on
 *   every axis, with a little second harmonic (the sensor is not on the axis of rotation,
 *   so the waveform is not a pure sine), on top of the Earth's field (~45 µT here).
 * - Flow changes: the boiler heats (1–2.6 m³/h), someone showers (1.5–3 m³/h), a stove
 *   simmers (0.15–0.5 m³/h), everything runs at once (up to the G4's Qmax, 6 m³/h: one
 *   rotation every 6 s), and long pauses. Flow ramps at 1 m³/h per second between levels.
 * - The ESP samples at 10 Hz and publishes a batch every 5 s, as firmware does to save
 *   radio time. A slow temperature drift moves the offset by a couple of µT.
 *
 * The faults a detector has to survive (each can be tuned or switched off):
 * - noise: Gaussian, per axis (`noise`, µT);
 * - dropouts: failed I2C reads, sent as `null` samples, in runs of 1–10 (`dropout`);
 * - spikes: one axis off by 40–400 µT for a single sample, electrical interference (`spikes`);
 * - garbage bursts of 5–30 samples (`garbage`, per batch): all-zero registers after a bus
 *   error, readings at the sensor's ±800 µT rail, or random bytes;
 * - Wi-Fi outages (`outages`, per batch): 2–12 batches held in the ESP's outbox and sent
 *   late in one burst (nothing is lost, everything arrives late and in order);
 * - corrupted copies (`corrupt`, per batch): a truncated duplicate of a batch (not JSON);
 * - lost batches (`lose`, per batch, default 0): gone for good, like an ESP that reboots.
 */

/** Defaults of {@link simulate}. */
export const DEFAULTS = Object.freeze({
  seed: 1,
  device: 'gas-meter-1',
  rotations: 20,
  litresPerRotation: 10,
  intervalMs: 100,
  batch: 50,
  /** m³/h range usage segments are drawn from (the G4 range is 0.04–6). */
  minFlow: 0.1,
  maxFlow: 6,
  /** Longest pause between usages, seconds. */
  maxPause: 600,
  /** Field of the magnet at the sensor, µT (amplitude of the main axis). */
  amplitude: 35,
  noise: 0.3,
  dropout: 0.004,
  spikes: 0.002,
  garbage: 0.02,
  outages: 0.01,
  corrupt: 0.005,
  lose: 0,
});

/** The sensor's full scale (QMC5883L at ±8 G): readings at the rail are clipped, not measured. */
export const SENSOR_RANGE_UT = 800;

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; enough for test signals. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare;
  return {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor((hi - lo + 1) * next()),
    chance: (p) => next() < p,
    /** Standard normal (Box–Muller, both values used). */
    gauss() {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}

/**
 * Draws what the household does next: a pause or an appliance at some flow, for some
 * seconds. Flows are clamped into [minFlow, maxFlow].
 */
function nextSegment(rng, o) {
  if (rng.chance(0.3)) return { flow: 0, seconds: rng.uniform(Math.min(5, o.maxPause), o.maxPause), what: 'pause' };
  const kinds = [
    { what: 'heating', lo: 1.0, hi: 2.6, s: [60, 600] },
    { what: 'hot water', lo: 1.5, hi: 3.0, s: [20, 180] },
    { what: 'stove', lo: 0.15, hi: 0.5, s: [60, 600] },
    { what: 'everything at once', lo: 4.0, hi: 6.0, s: [20, 90] },
  ];
  const k = kinds[rng.int(0, kinds.length - 1)];
  const flow = Math.min(o.maxFlow, Math.max(o.minFlow, rng.uniform(k.lo, k.hi)));
  return { flow, seconds: rng.uniform(k.s[0], k.s[1]), what: k.what };
}

const round2 = (v) => Math.round(v * 100) / 100;

/**
 * Runs the simulation until the drum has turned `rotations` times, plus a few seconds
 * of stillness so the last batch goes out. Returns every message in publishing order
 * with its simulated send time, and the truth to compare a detector against.
 *
 * Times are milliseconds from the start; `toPayload(message, startMs)` makes the JSON
 * the ESP would publish (absolute `t0`).
 */
export function simulate(options = {}) {
  const o = { ...DEFAULTS, ...options };
  for (const [k, v] of Object.entries(o)) {
    if (k !== 'device' && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) throw new Error(`${k}: expected a non-negative number, got ${v}`);
  }
  if (!Number.isInteger(o.rotations) || o.rotations < 1) throw new Error(`rotations: expected a whole number ≥ 1, got ${o.rotations}`);
  if (o.minFlow <= 0 || o.maxFlow < o.minFlow) throw new Error('flow: expected 0 < min ≤ max (m³/h)');
  if (o.intervalMs < 1 || o.batch < 1) throw new Error('intervalMs and batch must be at least 1');
  const rng = prng(o.seed);

  // Where the sensor sits relative to the drum: per-axis share of the magnet's field and
  // phase, the Earth's field (central Europe: ~20 µT horizontal, ~44 µT down), the second
  // harmonic's size and phase. The x axis sees the most and starts at its maximum.
  const earth = [14.2, -3.1, -41.7];
  const axes = [
    { gain: 1.0, phase: 0, h2: 0.15, h2phase: 0.9 },
    { gain: 0.55, phase: -Math.PI / 2, h2: 0.08, h2phase: 2.1 },
    { gain: 0.3, phase: 0.7, h2: 0.05, h2phase: -1.3 },
  ];
  const driftPhase = rng.uniform(0, 2 * Math.PI);
  const m3PerRotation = o.litresPerRotation / 1000;

  let theta = 0; // drum position in rotations
  let t = 0; // ms since start
  let flow = 0; // m³/h, ramping toward `target`
  let segment = { flow: 0, seconds: 2, what: 'start' };
  let segmentLeft = segment.seconds * 1000;
  let tailLeft; // set once the last rotation is done
  const rampRate = 1; // m³/h per second: a burner modulates over a few seconds, it does not jump
  const segments = [];
  const rotationTimes = []; // ms at which the drum completed each rotation

  // Fault state.
  let dropoutLeft = 0;
  const counts = { samples: 0, nulls: 0, spikes: 0, garbageBursts: 0, garbageSamples: 0, outages: 0, delayedBatches: 0, corrupted: 0, lost: 0 };

  const messages = [];
  let outbox = []; // batches held during an outage
  let outageLeft = 0;
  let seq = 0;
  let samples = [];
  let batchT0 = 0;
  let garbage; // { kind, left }

  const field = () => {
    const drift = 1.2 * Math.sin((2 * Math.PI * t) / (3 * 3600_000) + driftPhase);
    return axes.map((a, i) => {
      const w = 2 * Math.PI * theta + a.phase;
      const magnet = o.amplitude * a.gain * (Math.cos(w) + a.h2 * Math.cos(2 * w + a.h2phase));
      return earth[i] + drift + magnet + o.noise * rng.gauss();
    });
  };

  const read = () => {
    if (garbage) {
      garbage.left--;
      counts.garbageSamples++;
      const g = garbage.kind;
      if (garbage.left <= 0) garbage = undefined;
      if (g === 'zeros') return [0, 0, 0];
      if (g === 'rail') return [SENSOR_RANGE_UT, -SENSOR_RANGE_UT, SENSOR_RANGE_UT].map((v) => (rng.chance(0.5) ? v : -v));
      return [0, 0, 0].map(() => round2(rng.uniform(-SENSOR_RANGE_UT, SENSOR_RANGE_UT)));
    }
    if (dropoutLeft > 0 || rng.chance(o.dropout)) {
      if (dropoutLeft === 0) dropoutLeft = rng.int(1, 10);
      dropoutLeft--;
      counts.nulls++;
      return null;
    }
    const v = field();
    if (rng.chance(o.spikes)) {
      counts.spikes++;
      v[rng.int(0, 2)] += (rng.chance(0.5) ? 1 : -1) * rng.uniform(40, 400);
    }
    return v.map((x) => round2(Math.max(-SENSOR_RANGE_UT, Math.min(SENSOR_RANGE_UT, x))));
  };

  const send = () => {
    const msg = { device: o.device, seq: seq++, t0: batchT0, interval_ms: o.intervalMs, unit: 'uT', samples };
    samples = [];
    if (rng.chance(o.garbage)) {
      garbage = { kind: ['zeros', 'rail', 'random'][rng.int(0, 2)], left: rng.int(5, 30) };
      counts.garbageBursts++;
    }
    if (o.lose > 0 && rng.chance(o.lose)) {
      counts.lost++;
      return;
    }
    if (outageLeft === 0 && rng.chance(o.outages)) {
      outageLeft = rng.int(2, 12);
      counts.outages++;
    }
    if (outageLeft > 0) {
      outageLeft--;
      outbox.push(msg);
      counts.delayedBatches++;
      if (outageLeft > 0) return;
    }
    // Back online (or never gone): the outbox first, oldest first, then this batch.
    for (const m of outbox.length ? outbox : [msg]) {
      messages.push({ sendAt: t, message: m });
      if (rng.chance(o.corrupt)) {
        counts.corrupted++;
        messages.push({ sendAt: t, corrupt: true, message: m });
      }
    }
    outbox = [];
  };

  const dt = o.intervalMs / 1000;
  while (true) {
    // Wheel: flow ramps toward the segment's level; the drum turns flow / 10 L per second.
    const step = rampRate * dt;
    flow = flow < segment.flow ? Math.min(segment.flow, flow + step) : Math.max(segment.flow, flow - step);
    if (tailLeft === undefined) {
      const before = Math.floor(theta);
      theta = Math.min(o.rotations, theta + ((flow / 3600) * dt) / m3PerRotation);
      if (Math.floor(theta) > before) rotationTimes.push(t);
      if (theta >= o.rotations) tailLeft = 10_000; // the drum stops where the meter reads N rotations
    }

    if (samples.length === 0) batchT0 = t;
    const s = read();
    counts.samples++;
    samples.push(s);
    if (samples.length >= o.batch) send();

    t += o.intervalMs;
    if (tailLeft !== undefined) {
      segment = { flow: 0, seconds: 0, what: 'done' };
      tailLeft -= o.intervalMs;
      if (tailLeft <= 0) break;
      continue;
    }
    segmentLeft -= o.intervalMs;
    if (segmentLeft <= 0) {
      segment = nextSegment(rng, o);
      segmentLeft = segment.seconds * 1000;
      segments.push({ atMs: t, what: segment.what, flowM3h: Math.round(segment.flow * 1000) / 1000, seconds: Math.round(segment.seconds) });
    }
  }
  if (samples.length) send();
  if (outbox.length) {
    for (const m of outbox) messages.push({ sendAt: t, message: m });
    outbox = [];
  }

  return {
    messages,
    truth: {
      device: o.device,
      rotations: o.rotations,
      litres: o.rotations * o.litresPerRotation,
      m3: o.rotations * m3PerRotation,
      durationMs: t,
      messages: messages.length,
      ...counts,
      segments,
      rotationTimesMs: rotationTimes,
    },
    options: o,
  };
}

/** The MQTT payload of one simulated message, with `t0` made absolute (ms since the epoch). */
export function toPayload(entry, startMs) {
  const json = JSON.stringify({ ...entry.message, t0: startMs + entry.message.t0 });
  // A corrupted copy: cut mid-way, as a buffer overrun or a torn write would.
  return entry.corrupt ? json.slice(0, Math.floor(json.length * 0.6)) : json;
}
