"""consumption: the gas meter's usage as a small REST API, read from the database the
ingest function writes (ingest.py, through the same module: meterdb.py).

    GET /?period=hour|day&from=&to=&device=&tz=
        usage per hour or per day, every bucket listed (empty ones as 0), and the total.
        from/to: ISO 8601 dates (2026-01-15) or times (2026-01-15T06:00:00Z, or without an
        offset: in tz); from is rounded down and to up to whole buckets. Defaults: the
        last 24 hours, or the last 31 days. tz: an IANA zone (Europe/Berlin), default UTC:
        days start at midnight there. device: one meter (default: all of them).
    GET /rate[?device=]
        each meter's current flow, from the time between its last two rotations (or the
        time since the last one, when that is longer: the flow has dropped since), as of
        its newest sample; and how fresh and clean its data is.

Errors are JSON, ``{"error": code, "message": …}``: 400 for a bad query (naming the
parameter), 404 for an unknown path or device, 405 for a method other than GET, 503 when
the database cannot be reached. Authentication (``kss.auth: token``) and the rate limit
(``kss.ratelimit.client``) are the platform's, set in stack.yml: a request without a token
never gets here.
"""

import json
import os
import re
import time
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs

import meterdb

DEVICE = re.compile(r'^[A-Za-z0-9_.:-]{1,64}$')
MAX_BUCKETS = 1000
SLOT_MS = 15 * 60 * 1000  # every UTC offset in use is a multiple of 15 minutes
PARAMS = {'/': ('period', 'from', 'to', 'device', 'tz'), '/rate': ('device',)}


class BadQuery(ValueError):
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


class UnknownDevice(Exception):
    pass


def _reply(body, status=200, headers=None):
    return body, status, {'Content-Type': 'application/json', 'Cache-Control': 'no-store', **(headers or {})}


def _error(status, code, message, **extra):
    return _reply({'error': code, 'message': message, **extra}, status)


def handle(event, context):
    path = event.path.rstrip('/') or '/'
    if path not in PARAMS:
        return _error(404, 'not_found', 'no such endpoint: %s; there are GET / (usage) and GET /rate' % path[:100])
    if event.method != 'GET':
        return _reply({'error': 'method_not_allowed', 'message': 'use GET'}, 405, {'Allow': 'GET'})
    try:
        # The whole query is checked before the database is touched: a bad one is a 400
        # whatever the database's state.
        query = _query(event.query_string, PARAMS[path])
        answer = _rate(query) if path == '/rate' else _usage(query)
        db = meterdb.database(application='gas-meter-consumption')
        with db.transaction() as tx:
            return _reply(answer(tx))
    except BadQuery as err:
        return _error(400, 'invalid_query', str(err), field=err.field)
    except UnknownDevice as err:
        return _error(404, 'unknown_device', str(err))
    except meterdb.ConfigError as err:
        context.log('not configured: %s' % err)
        return _error(500, 'not_configured', str(err))
    except meterdb.Unavailable as err:
        context.log('database unavailable: %s' % err)
        return _error(503, 'database_unavailable', 'the database is unavailable; try again shortly')


def _query(query_string, allowed):
    """Parameter → value; every name known, none repeated (a typo is an error, not a default)."""
    try:
        raw = parse_qs(query_string or '', keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except ValueError:
        raise BadQuery(None, 'too many query parameters') from None
    for name, values in raw.items():
        if name not in allowed:
            raise BadQuery(name, 'unknown parameter "%s"; this endpoint takes %s' % (name[:40], ', '.join(allowed)))
        if len(values) > 1:
            raise BadQuery(name, '"%s" is given %d times' % (name, len(values)))
    return {k: v[0] for k, v in raw.items()}


def _zone(name):
    if name in (None, '', 'UTC', 'Z'):
        return timezone.utc, 'UTC'
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        raise BadQuery('tz', '"%s" is not a time zone; use an IANA name such as Europe/Berlin, or UTC' % name[:60]) from None


def _instant(value, field, tz):
    """An aware datetime from an ISO 8601 date or date-time (naive ones are in tz)."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=tz)
        t = datetime.fromisoformat(text.replace('Z', '+00:00').replace('z', '+00:00'))
    except ValueError:
        raise BadQuery(field, '"%s" is not an ISO 8601 date (2026-01-15) or time (2026-01-15T06:00:00Z)' % text[:40]) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=tz)


def _floor(t, period, tz):
    local = t.astimezone(tz)
    if period == 'hour':
        return local.replace(minute=0, second=0, microsecond=0)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _next(t, period, tz):
    if period == 'hour':
        # An hour is an hour in UTC (a local clock can repeat or skip one).
        return (t.astimezone(timezone.utc) + timedelta(hours=1)).astimezone(tz)
    # A day is from one local midnight to the next: 23 or 25 hours around a DST change.
    d = t.date() + timedelta(days=1)
    return datetime(d.year, d.month, d.day, tzinfo=tz)


def _ms(t):
    return int(t.timestamp() * 1000)


def _iso(t, tz_name):
    if tz_name == 'UTC':
        return t.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return t.isoformat(timespec='seconds')


def _device(query):
    device = query.get('device')
    if device is not None and not DEVICE.match(device):
        raise BadQuery('device', 'a device id is 1-64 letters, digits, "_", ".", ":" or "-"')
    return device


def _usage(query):
    """Checks a usage query; returns what reads the answer in a transaction."""
    period = query.get('period', 'hour')
    if period not in ('hour', 'day'):
        raise BadQuery('period', 'period must be "hour" or "day", not "%s"' % period[:40])
    tz, tz_name = _zone(query.get('tz'))
    device = _device(query)
    now = datetime.now(timezone.utc)
    end = _instant(query['to'], 'to', tz) if 'to' in query else now
    start = _instant(query['from'], 'from', tz) if 'from' in query else end - (timedelta(hours=24) if period == 'hour' else timedelta(days=31))
    if start >= end:
        raise BadQuery('from', '"from" must be before "to"')
    # Whole buckets: from rounded down, to rounded up.
    edges = [_floor(start, period, tz)]
    while edges[-1] < end:
        edges.append(_next(edges[-1], period, tz))
        if len(edges) > MAX_BUCKETS + 1:
            raise BadQuery('from', 'more than %d %ss asked for; narrow from/to or use period=day' % (MAX_BUCKETS, period))
    return lambda tx: _usage_answer(tx, period, tz_name, device, edges)


def _usage_answer(tx, period, tz_name, device, edges):
    lo, hi = _ms(edges[0]), _ms(edges[-1])
    sql = 'SELECT at_ms / ? AS slot, COUNT(*), SUM(litres) FROM meter_rotation WHERE at_ms >= ? AND at_ms < ?'
    params = [SLOT_MS, lo, hi]
    if device is not None:
        sql += ' AND device = ?'
        params.append(device)
    slots = tx.all(sql + ' GROUP BY at_ms / ? ORDER BY slot', params + [SLOT_MS])

    buckets = []
    i = 0
    for a, b in zip(edges, edges[1:]):
        a_ms, b_ms = _ms(a), _ms(b)
        n, litres = 0, 0.0
        while i < len(slots) and slots[i][0] * SLOT_MS < b_ms:
            if slots[i][0] * SLOT_MS >= a_ms:
                n += slots[i][1]
                litres += slots[i][2]
            i += 1
        buckets.append({'start': _iso(a, tz_name), 'end': _iso(b, tz_name), 'rotations': n,
                        'litres': round(litres, 3), 'm3': round(litres / 1000, 6)})
    total_n = sum(b['rotations'] for b in buckets)
    total_l = sum(b['litres'] for b in buckets)
    return {
        'device': device,
        'period': period,
        'tz': tz_name,
        'from': _iso(edges[0], tz_name),
        'to': _iso(edges[-1], tz_name),
        'buckets': buckets,
        'total': {'rotations': total_n, 'litres': round(total_l, 3), 'm3': round(total_l / 1000, 6)},
    }


def _rate(query):
    """Checks a rate query; returns what reads the answer in a transaction."""
    device = _device(query)
    try:
        stale_after = float(os.environ.get('STALE_AFTER_SECONDS') or 60)
    except ValueError:
        raise meterdb.ConfigError('STALE_AFTER_SECONDS must be a number of seconds') from None
    return lambda tx: _rate_answer(tx, device, stale_after)


def _rate_answer(tx, device, stale_after):
    sql = ('SELECT device, litres_per_rotation, rotations, litres, messages, first_sample_ms, last_sample_ms, '
           'last_rotation_ms, prev_rotation_ms, state FROM meter_device')
    rows = tx.all(sql + ' WHERE device = ?', (device,)) if device is not None else tx.all(sql + ' ORDER BY device')
    if device is not None and not rows:
        raise UnknownDevice('no data from device "%s" yet' % device)
    now_ms = int(time.time() * 1000)
    meters = [_meter(r, now_ms, stale_after) for r in rows]
    body = {'at': _iso(datetime.fromtimestamp(now_ms / 1000, timezone.utc), 'UTC')}
    if device is not None:
        body.update(meters[0])
    else:
        body['devices'] = meters
    return body


def _meter(row, now_ms, stale_after):
    device, per_rotation, rotations, litres, messages, first_ms, last_ms, last_rot, prev_rot, state = row
    iso = lambda ms: None if ms is None else _iso(datetime.fromtimestamp(ms / 1000, timezone.utc), 'UTC')  # noqa: E731
    flow = None
    basis = 'no rotation yet'
    if last_rot is not None and last_ms is not None:
        since = max(0, last_ms - last_rot)
        if prev_rot is not None:
            period = last_rot - prev_rot
            span = max(period, since)
            basis = ('%.1f s between the last two rotations' % (period / 1000)) if period >= since else \
                ('no rotation for %.1f s since the last one: at most this' % (since / 1000))
        elif since > 0:
            span = since
            basis = 'one rotation so far: at most this, from the time since it'
        else:
            span = None
        if span:
            lph = per_rotation * 3600_000 / span
            flow = {'litres_per_hour': round(lph, 1), 'm3_per_hour': round(lph / 1000, 4)}
    stats = (json.loads(state) or {}).get('stats', {}) if state else {}
    return {
        'device': device,
        'flow': flow,
        'basis': basis,
        'last_sample_at': iso(last_ms),
        'last_rotation_at': iso(last_rot),
        'stale': last_ms is None or now_ms - last_ms > stale_after * 1000,
        'total': {'rotations': rotations, 'litres': round(litres, 3), 'm3': round(litres / 1000, 6)},
        'litres_per_rotation': per_rotation,
        'since': iso(first_ms),
        'quality': {
            'messages': messages,
            'samples': stats.get('samples', 0),
            'failed_reads': stats.get('invalid', 0),
            'outliers': stats.get('outliers', 0),
            'duplicates': stats.get('duplicates', 0),
            'gaps': stats.get('gaps', 0),
            'gap_seconds': round(stats.get('gap_ms', 0) / 1000, 1),
        },
    }
