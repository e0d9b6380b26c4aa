#!/usr/bin/env node
/**
 * Plays an ESP on a gas meter: publishes magnetometer batches over MQTT (or writes them
 * to a file) for a given number of drum rotations. See meter-model.mjs for the physics
 * and the faults, and ../README.md for the walk-through.
 *
 *   node examples/gas-meter/simulator/simulate.mjs --rotations 20 --broker mqtt://127.0.0.1:1883
 *   node examples/gas-meter/simulator/simulate.mjs --rotations 20 --out meter.ndjson --json > truth.json
 *
 * Deterministic: the same flags (and --seed) give the same samples. Only `t0` depends on
 * when it runs, unless --start is given.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULTS, simulate, toPayload } from './meter-model.mjs';

const HELP = `Usage: simulate.mjs [options]

  --rotations N          drum rotations to simulate (default ${DEFAULTS.rotations})
  --broker URL           MQTT broker (default mqtt://127.0.0.1:1883)
  --topic TOPIC          topic to publish on (default meters/<device>/samples)
  --qos 0|1              MQTT QoS (default 1: each publish waits for the broker's PUBACK)
  --device ID            device id in every message (default ${DEFAULTS.device})
  --seed N               random seed (default ${DEFAULTS.seed})
  --speed X              meter seconds per real second: 1 = real time, 60 = a minute per second,
                         0 = as fast as --rate allows, the backlog of an ESP that was offline (default 0)
  --rate N               messages per second at most with --speed 0 (default 50)
  --start ISO            time of the first sample (default: the latest that stamps no sample
                         after it is published: now at --speed 1, so that the last sample is
                         stamped as it is sent when faster)
  --out FILE             write the payloads to FILE, one per line, instead of publishing
  --json                 print the summary (the truth) as JSON on stdout
  --flow MIN-MAX         m³/h range appliances draw from (default ${DEFAULTS.minFlow}-${DEFAULTS.maxFlow}; a G4 meter: 0.04-6)
  --max-pause S          longest pause between usages, seconds (default ${DEFAULTS.maxPause})
  --litres-per-rotation L  volume of one drum rotation (default ${DEFAULTS.litresPerRotation})
  --interval-ms MS       sample interval (default ${DEFAULTS.intervalMs}) ; --batch N samples per message (default ${DEFAULTS.batch})
  --amplitude UT         the magnet's field at the sensor, µT (default ${DEFAULTS.amplitude})
  --noise UT             sensor noise σ per axis, µT (default ${DEFAULTS.noise})
  --dropout P --spikes P per-sample probability of a failed read (run of 1-10 nulls) / a spike
                         (defaults ${DEFAULTS.dropout}, ${DEFAULTS.spikes})
  --garbage P --outages P --corrupt P --lose P
                         per-batch probability of a garbage burst, a Wi-Fi outage (batches sent
                         late), a corrupted extra copy, a batch lost for good
                         (defaults ${DEFAULTS.garbage}, ${DEFAULTS.outages}, ${DEFAULTS.corrupt}, ${DEFAULTS.lose})
  --clean                no faults at all (noise stays unless --noise 0)
  -q, --quiet            no progress on stderr
`;

function fail(message) {
  process.stderr.write(`simulate: ${message}\n(see --help)\n`);
  process.exit(2);
}

const { values: a } = (() => {
  try {
    return parseArgs({
      options: {
        rotations: { type: 'string' }, broker: { type: 'string' }, topic: { type: 'string' }, qos: { type: 'string' },
        device: { type: 'string' }, seed: { type: 'string' }, speed: { type: 'string' }, rate: { type: 'string' },
        start: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, flow: { type: 'string' },
        'max-pause': { type: 'string' }, 'litres-per-rotation': { type: 'string' }, 'interval-ms': { type: 'string' },
        batch: { type: 'string' }, amplitude: { type: 'string' }, noise: { type: 'string' }, dropout: { type: 'string' },
        spikes: { type: 'string' }, garbage: { type: 'string' }, outages: { type: 'string' }, corrupt: { type: 'string' },
        lose: { type: 'string' }, clean: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (err) {
    fail(err.message);
  }
})();
if (a.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const num = (name, value, fallback) => {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) fail(`--${name}: expected a non-negative number, got "${value}"`);
  return n;
};

const options = {
  rotations: num('rotations', a.rotations, DEFAULTS.rotations),
  seed: num('seed', a.seed, DEFAULTS.seed),
  device: a.device ?? DEFAULTS.device,
  litresPerRotation: num('litres-per-rotation', a['litres-per-rotation'], DEFAULTS.litresPerRotation),
  intervalMs: num('interval-ms', a['interval-ms'], DEFAULTS.intervalMs),
  batch: num('batch', a.batch, DEFAULTS.batch),
  maxPause: num('max-pause', a['max-pause'], DEFAULTS.maxPause),
  amplitude: num('amplitude', a.amplitude, DEFAULTS.amplitude),
  noise: num('noise', a.noise, DEFAULTS.noise),
};
if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(options.device)) fail('--device: 1-64 letters, digits, "_", ".", ":" or "-"');
if (!Number.isInteger(options.rotations) || options.rotations < 1) fail('--rotations: a whole number ≥ 1');
if (a.flow !== undefined) {
  const m = /^\s*([\d.]+)\s*-\s*([\d.]+)\s*$/.exec(a.flow);
  if (!m || !(Number(m[1]) > 0) || !(Number(m[2]) >= Number(m[1]))) fail(`--flow: expected MIN-MAX in m³/h with 0 < MIN ≤ MAX, e.g. 1.5-6; got "${a.flow}"`);
  options.minFlow = Number(m[1]);
  options.maxFlow = Number(m[2]);
}
for (const f of ['dropout', 'spikes', 'garbage', 'outages', 'corrupt', 'lose']) {
  options[f] = a.clean ? 0 : num(f, a[f], DEFAULTS[f]);
  if (options[f] > 1) fail(`--${f}: a probability, from 0 to 1`);
}
const speed = num('speed', a.speed, 0);
const rate = num('rate', a.rate, 50);
if (speed === 0 && rate === 0) fail('--rate: at least 1 message per second');
const qos = a.qos === undefined ? 1 : Number(a.qos);
if (qos !== 0 && qos !== 1) fail('--qos: 0 or 1');
const log = a.quiet ? () => undefined : (line) => process.stderr.write(`${line}\n`);

let sim;
try {
  sim = simulate(options);
} catch (err) {
  fail(err.message);
}
const { messages, truth } = sim;

let startMs;
if (a.start !== undefined) {
  startMs = Date.parse(a.start);
  if (!Number.isFinite(startMs)) fail(`--start: not an ISO 8601 time: "${a.start}"`);
} else {
  // Meter time runs `speed` times faster than the clock. Sample s (ms of meter time) is sent
  // at now + s / speed and stamped start + s: starting at now − D·(1 − 1/speed) keeps every
  // stamp at or before its sending, and the last one (s = D) is stamped as it is sent. So a
  // backlog (speed 0) ends now and a real-time run (speed 1) starts now.
  const ahead = speed === 0 ? 1 : Math.max(0, 1 - 1 / speed);
  startMs = Date.now() - Math.round(truth.durationMs * ahead);
}
const summary = {
  ...truth,
  start: new Date(startMs).toISOString(),
  end: new Date(startMs + truth.durationMs).toISOString(),
  topic: a.topic ?? `meters/${options.device}/samples`,
  seed: options.seed,
};
const minutes = (truth.durationMs / 60_000).toFixed(1);
const describe = () =>
  `${truth.rotations} rotations = ${truth.litres} L (${truth.m3.toFixed(3)} m³) over ${minutes} min of meter time: ` +
  `${truth.messages} messages (${truth.delayedBatches} sent late after ${truth.outages} outage(s), ${truth.corrupted} corrupted copies, ${truth.lost} lost), ` +
  `${truth.samples} samples (${truth.nulls} failed reads, ${truth.spikes} spikes, ${truth.garbageSamples} garbage in ${truth.garbageBursts} bursts)`;

if (a.out) {
  writeFileSync(a.out, messages.map((m) => toPayload(m, startMs)).join('\n') + '\n');
  log(`wrote ${a.out}: ${describe()}`);
  if (a.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.exit(0);
}

const broker = a.broker ?? 'mqtt://127.0.0.1:1883';
const { default: mqtt } = await import('mqtt');
let client;
try {
  client = await mqtt.connectAsync(broker, { clientId: `kss-sim-${options.device}-${process.pid}`, reconnectPeriod: 0, connectTimeout: 10_000 });
} catch (err) {
  fail(`cannot connect to ${broker}: ${err.message}`);
}
log(`publishing to ${broker} on ${summary.topic} (QoS ${qos}, ${speed === 0 ? `backlog at up to ${rate} msg/s` : `${speed}× real time`})`);
const t0 = performance.now();
const sleep = (ms) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : undefined);
let lastReport = 0;
try {
  for (let i = 0; i < messages.length; i++) {
    const due = speed === 0 ? (i * 1000) / rate : messages[i].sendAt / speed;
    await sleep(due - (performance.now() - t0));
    await client.publishAsync(summary.topic, toPayload(messages[i], startMs), { qos });
    if (performance.now() - lastReport > 2000) {
      lastReport = performance.now();
      log(`  ${i + 1}/${messages.length} messages`);
    }
  }
} catch (err) {
  fail(`publishing failed: ${err.message}`);
} finally {
  await client.endAsync().catch(() => undefined);
}
log(`published ${describe()}`);
if (a.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
