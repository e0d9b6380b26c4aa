"""ingest: one MQTT message from the meter's ESP in, its rotations stored.

The platform's MQTT trigger POSTs each message here (topic in ``X-Topic``). A message is
a batch of magnetometer samples::

    {"device": "gas-meter-1", "seq": 17, "t0": 1768456800000, "interval_ms": 100,
     "unit": "uT", "samples": [[51.6, -3.1, -34.1], null, [51.2, -2.9, -34.0], ...]}

``samples[i]`` was read at ``t0 + i * interval_ms`` (ms since the epoch); ``null`` is a
failed read. The detector (detector.py) finds the drum's rotations; each is stored
with its time and volume (``LITRES_PER_ROTATION``, default 10 L: the last drum of a
G4 meter such as the BK-G4, "1 imp = 0.01 m³"). The detector's state is stored with
them, in the same transaction: replicas keep nothing between messages, so any replica
(or the next one after a scale to zero) carries on where the last one stopped, and a
message is either wholly counted or not at all.

Answers: 200 with what was counted; 400 for a message that is not one (the trigger
gives it up: retrying cannot fix it); 503 when the database is unavailable (the trigger
retries with backoff, the broker keeps the message meanwhile). Samples at or before the
newest one already processed for the device are skipped, so a redelivered message
(MQTT QoS 1 is at-least-once) is not counted twice.
"""

import json
import math
import os
import re
import time

import meterdb
from detector import DetectorConfig, RotationDetector

DEVICE = re.compile(r'^[A-Za-z0-9_.:-]{1,64}$')
MAX_SAMPLES = 10_000
# 5 samples a second at least: the drum can turn in 6 s (a G4 at its Qmax) and the
# detector's median and noise estimate need about 30 samples per turn.
MAX_INTERVAL_MS = 200
EARLIEST_MS = 946_684_800_000  # 2000-01-01: an ESP that has not got the time from NTP yet sends 1970
FUTURE_SLACK_MS = 24 * 3600 * 1000


class BadMessage(ValueError):
    pass


def _config():
    try:
        litres = float(os.environ.get('LITRES_PER_ROTATION') or 10)
    except ValueError:
        raise meterdb.ConfigError('LITRES_PER_ROTATION must be a number of litres, not %r' % os.environ.get('LITRES_PER_ROTATION')) from None
    if not math.isfinite(litres) or litres <= 0:
        raise meterdb.ConfigError('LITRES_PER_ROTATION must be positive')
    try:
        detector = DetectorConfig.from_env(os.environ)
    except ValueError as err:
        raise meterdb.ConfigError(str(err)) from None
    return litres, detector


def parse(body, now_ms):
    """The message, validated; raises BadMessage saying what is wrong."""
    try:
        msg = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadMessage('not JSON: %s' % err) from None
    if not isinstance(msg, dict):
        raise BadMessage('expected a JSON object with device, t0, interval_ms and samples')
    device = msg.get('device')
    if not isinstance(device, str) or not DEVICE.match(device):
        raise BadMessage('device: 1-64 letters, digits, "_", ".", ":" or "-"')
    t0 = msg.get('t0')
    if isinstance(t0, bool) or not isinstance(t0, int):
        raise BadMessage('t0: the first sample\'s time, whole milliseconds since the epoch')
    if t0 < EARLIEST_MS:
        raise BadMessage('t0: %d is before 2000: the device\'s clock is not set (NTP)' % t0)
    if t0 > now_ms + FUTURE_SLACK_MS:
        raise BadMessage('t0: %d is more than a day in the future' % t0)
    interval = msg.get('interval_ms')
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 1 <= interval <= MAX_INTERVAL_MS:
        raise BadMessage('interval_ms: from 1 to %d (sample at 5 Hz or more)' % MAX_INTERVAL_MS)
    unit = msg.get('unit', 'uT')
    if unit != 'uT':
        raise BadMessage('unit: samples must be in µT ("uT"), not %r' % (unit,))
    samples = msg.get('samples')
    if not isinstance(samples, list) or not 1 <= len(samples) <= MAX_SAMPLES:
        raise BadMessage('samples: a list of 1 to %d samples' % MAX_SAMPLES)
    for i, s in enumerate(samples):
        # Bad values (zeros, readings at the rail) are the detector's business; a wrong shape is a bug.
        if s is not None and (not isinstance(s, list) or len(s) != 3
                              or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in s)):
            raise BadMessage('samples[%d]: expected [x, y, z] in µT, or null for a failed read' % i)
    return device, t0, interval, samples, msg.get('seq')


def _reply(body, status=200):
    return body, status, {'Content-Type': 'application/json'}


def _error(status, code, message):
    return _reply({'error': code, 'message': message}, status)


def handle(event, context):
    if event.method != 'POST':
        return {'error': 'method_not_allowed', 'message': 'POST a message from the meter'}, 405, {'Allow': 'POST'}
    now_ms = int(time.time() * 1000)
    try:
        device, t0, interval, samples, seq = parse(event.body, now_ms)
    except BadMessage as err:
        context.log('rejected a message on %s: %s' % (event.headers.get('x-topic', '?'), err))
        return _error(400, 'bad_message', str(err))
    try:
        litres_per_rotation, detector_config = _config()
        db = meterdb.database(application='gas-meter-ingest')
        with db.transaction(write=True) as tx:
            result = _ingest(tx, device, t0, interval, samples, litres_per_rotation, detector_config, now_ms)
    except meterdb.ConfigError as err:
        context.log('not configured: %s' % err)
        return _error(500, 'not_configured', str(err))
    except meterdb.Unavailable as err:
        context.log('database unavailable: %s' % err)
        return _error(503, 'database_unavailable', str(err))
    if result['rotations']:
        context.log('%s: +%d rotation(s), %g L; total %d, %.3f m³' % (
            device, result['rotations'], result['litres'], result['total']['rotations'], result['total']['m3']))
    result['seq'] = seq
    return _reply(result)


def _ingest(tx, device, t0, interval, samples, litres_per_rotation, detector_config, now_ms):
    tx.execute('INSERT INTO meter_device (device, state, litres_per_rotation, updated_ms) VALUES (?, ?, ?, ?) '
               'ON CONFLICT (device) DO NOTHING', (device, 'null', litres_per_rotation, now_ms))
    row = tx.one('SELECT state, rotations, litres, first_sample_ms, last_rotation_ms, prev_rotation_ms '
                 'FROM meter_device WHERE device = ?' + tx.for_update, (device,))
    state, rotations, litres, first_ms, last_rot, prev_rot = row
    detector = RotationDetector(detector_config, json.loads(state))
    before = dict(detector.state()['stats'])
    times = detector.feed(t0, interval, samples)
    after = detector.state()['stats']
    if times:
        tx.executemany('INSERT INTO meter_rotation (device, at_ms, litres) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
                       [(device, t, litres_per_rotation) for t in times])
        prev_rot = times[-2] if len(times) > 1 else last_rot
        last_rot = times[-1]
    rotations += len(times)
    litres += len(times) * litres_per_rotation
    last_sample = detector.state()['last_t']
    tx.execute('UPDATE meter_device SET state = ?, litres_per_rotation = ?, rotations = ?, litres = ?, messages = messages + 1, '
               'first_sample_ms = ?, last_sample_ms = ?, last_rotation_ms = ?, prev_rotation_ms = ?, updated_ms = ? WHERE device = ?',
               (json.dumps(detector.state(), separators=(',', ':')), litres_per_rotation, rotations, litres,
                first_ms if first_ms is not None else t0, last_sample, last_rot, prev_rot, now_ms, device))
    delta = {k: after[k] - before.get(k, 0) for k in ('samples', 'duplicates', 'invalid', 'outliers', 'gaps')}
    return {
        'device': device,
        'rotations': len(times),
        'litres': len(times) * litres_per_rotation,
        'samples': delta,
        # How the detector sees this meter: which axis it counts on, its hysteresis and the
        # noise it measured (µT); useful when mounting the sensor.
        'detector': {'axis': detector.axis,
                     'delta_ut': None if detector.delta is None else round(detector.delta, 2),
                     'noise_ut': None if detector.sigma is None else round(detector.sigma, 3)},
        'total': {'rotations': rotations, 'litres': litres, 'm3': round(litres / 1000, 6)},
    }
