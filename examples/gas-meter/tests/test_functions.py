"""The two functions' handlers, called in-process the way the Python runtime calls them,
on a SQLite database in a temporary folder (the end-to-end test in
test/example-gas-meter.test.ts runs them deployed, on SQLite and on PostgreSQL).

    python3 -m unittest discover -s examples/gas-meter/tests -v
"""

import importlib.util
import json
import os
import shutil
import stat
import sys
import tempfile
import unittest
from unittest import mock

sys.dont_write_bytecode = True  # no __pycache__ in functions/: it would be packaged with them
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
FUNCTIONS = os.path.join(EXAMPLE, 'functions')
DATA = os.path.join(EXAMPLE, 'data', 'gas-meter-1.2026-01-15.ndjson')
TRUTH = os.path.join(EXAMPLE, 'data', 'gas-meter-1.2026-01-15.truth.json')


def load(function):
    """Imports functions/<function>.py, the file stack.yml's ``handler:`` names, with a
    meterdb (and detector) of its own from the same folder, as its replica would."""
    saved = {k: sys.modules.pop(k) for k in ('meterdb', 'detector') if k in sys.modules}
    sys.path.insert(0, FUNCTIONS)
    try:
        spec = importlib.util.spec_from_file_location('%s_handler' % function, os.path.join(FUNCTIONS, '%s.py' % function))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(FUNCTIONS)
        for k in ('meterdb', 'detector'):
            sys.modules.pop(k, None)
        sys.modules.update(saved)


class Event:
    def __init__(self, method='GET', path='/', query_string='', body=b'', headers=None):
        self.method, self.path, self.query_string, self.body = method, path, query_string, body
        self.headers = headers or {}


class Context:
    def __init__(self):
        self.lines = []

    def log(self, *args):
        self.lines.append(' '.join(str(a) for a in args))


class Functions(unittest.TestCase):
    def setUp(self):
        self.volume = tempfile.mkdtemp(prefix='kss-gas-meter-')
        self.env = mock.patch.dict(os.environ, {'KSS_VOLUME_METER_DATA': self.volume}, clear=False)
        self.env.start()
        for k in ('DATABASE', 'SQLITE_PATH', 'LITRES_PER_ROTATION'):
            os.environ.pop(k, None)
        self.ingest = load('ingest')
        self.api = load('consumption')
        self.ctx = Context()

    def tearDown(self):
        self.ingest.meterdb.close_all()
        self.api.meterdb.close_all()
        self.env.stop()
        shutil.rmtree(self.volume, ignore_errors=True)

    def post(self, body):
        if not isinstance(body, bytes):
            body = (body if isinstance(body, str) else json.dumps(body)).encode()
        return self.ingest.handle(Event('POST', '/', body=body, headers={'x-topic': 'meters/gas-meter-1/samples'}), self.ctx)

    def get(self, path='/', query=''):
        body, status = self.api.handle(Event('GET', path, query), self.ctx)[:2]
        return status, body

    def replay(self):
        statuses = []
        with open(DATA, encoding='utf-8') as f:
            for line in f:
                statuses.append(self.post(line.strip().encode())[1])
        return statuses

    # ---------------------------------------------------------------- ingest

    def test_the_recorded_day_is_counted_and_served(self):
        with open(TRUTH, encoding='utf-8') as f:
            truth = json.load(f)
        statuses = self.replay()
        self.assertEqual(statuses.count(400), truth['corrupted'])  # the cut copies, given up
        self.assertEqual(statuses.count(200), truth['messages'] - truth['corrupted'])

        status, rate = self.get('/rate', 'device=gas-meter-1')
        self.assertEqual(status, 200)
        self.assertEqual(rate['total'], {'rotations': 15, 'litres': 150.0, 'm3': 0.15})
        self.assertEqual(rate['since'], '2026-01-15T06:00:00Z')
        self.assertTrue(rate['stale'])  # its last sample is long past
        self.assertGreater(rate['quality']['failed_reads'], truth['nulls'])

        status, usage = self.get('/', 'period=hour&from=2026-01-15T00:00:00Z&to=2026-01-15T12:00:00Z')
        self.assertEqual(status, 200)
        self.assertEqual(len(usage['buckets']), 12)
        self.assertEqual(usage['total'], {'rotations': 15, 'litres': 150.0, 'm3': 0.15})
        six = usage['buckets'][6]
        self.assertEqual((six['start'], six['end'], six['litres']), ('2026-01-15T06:00:00Z', '2026-01-15T07:00:00Z', 150.0))

        status, days = self.get('/', 'period=day&from=2026-01-14&to=2026-01-16&device=gas-meter-1')
        self.assertEqual([b['litres'] for b in days['buckets']], [0.0, 150.0])

    def test_a_redelivered_message_is_counted_once(self):
        with open(DATA, encoding='utf-8') as f:
            lines = [line.strip().encode() for line in f]
        for line in lines:
            self.post(line)
            self.post(line)  # at least once: every message twice
        _, rate = self.get('/rate', 'device=gas-meter-1')
        self.assertEqual(rate['total']['rotations'], 15)
        self.assertGreater(rate['quality']['duplicates'], 4000)

    def test_the_answer_says_what_was_counted(self):
        with open(DATA, encoding='utf-8') as f:
            first = json.loads(f.readline())
        body, status, headers = self.post(first)
        self.assertEqual(status, 200)
        self.assertEqual(headers['Content-Type'], 'application/json')
        self.assertEqual(body['device'], 'gas-meter-1')
        self.assertEqual(body['samples']['samples'], 50)
        self.assertIn('total', body)

    def test_litres_per_rotation_is_configurable(self):
        os.environ['LITRES_PER_ROTATION'] = '100'  # a G10's last drum, say
        self.replay()
        _, rate = self.get('/rate')
        self.assertEqual(rate['devices'][0]['total']['litres'], 1500.0)
        self.assertEqual(rate['devices'][0]['litres_per_rotation'], 100.0)

    def test_bad_messages_are_400_with_the_reason(self):
        good = {'device': 'm1', 't0': 1_768_456_800_000, 'interval_ms': 100, 'samples': [[1, 2, 3]]}
        cases = [
            (b'{"device": "m1", "t0": 17', 'not JSON'),
            (b'[1, 2]', 'expected a JSON object'),
            ({**good, 'device': 'no spaces please'}, 'device'),
            ({**good, 't0': '2026-01-15'}, 't0: the first sample'),
            ({**good, 't0': 1_000}, 'before 2000'),
            ({**good, 't0': 99_999_999_999_999}, 'in the future'),
            ({**good, 'interval_ms': 1000}, 'interval_ms: from 1 to 200'),
            ({**good, 'unit': 'mG'}, 'unit'),
            ({**good, 'samples': []}, 'samples: a list'),
            ({**good, 'samples': [[1, 2]]}, r'samples\[0\]'),
            ({**good, 'samples': [[1, 2, 3], 'x']}, r'samples\[1\]'),
        ]
        for body, reason in cases:
            with self.subTest(reason=reason):
                answer, status, _ = self.post(body)
                self.assertEqual(status, 400)
                self.assertEqual(answer['error'], 'bad_message')
                self.assertRegex(answer['message'], reason)

    def test_only_post(self):
        body, status, headers = self.ingest.handle(Event('GET', '/'), self.ctx)
        self.assertEqual((status, headers['Allow']), (405, 'POST'))

    def test_no_volume_no_database(self):
        os.environ.pop('KSS_VOLUME_METER_DATA')
        body, status, _ = self.post({'device': 'm1', 't0': 1_768_456_800_000, 'interval_ms': 100, 'samples': [None]})
        self.assertEqual(status, 500)
        self.assertRegex(body['message'], 'kss.volume: meter-data')
        status, body = self.get('/')
        self.assertEqual(status, 500)
        status, body = self.get('/', 'period=week')  # a bad query is a 400 before the database is looked at
        self.assertEqual(status, 400)

    def test_postgres_without_its_secret(self):
        os.environ['DATABASE'] = 'postgres'
        os.environ['KSS_SECRETS_DIR'] = self.volume
        try:
            body, status, _ = self.post({'device': 'm1', 't0': 1_768_456_800_000, 'interval_ms': 100, 'samples': [None]})
        finally:
            del os.environ['DATABASE'], os.environ['KSS_SECRETS_DIR']
        self.assertEqual(status, 500)
        self.assertRegex(body['message'], 'secret "gas-meter-postgres"')

    def test_the_database_file_is_group_writable(self):
        old = os.umask(0o022)  # even under a strict umask
        try:
            self.post({'device': 'm1', 't0': 1_768_456_800_000, 'interval_ms': 100, 'samples': [None]})
        finally:
            os.umask(old)
        mode = stat.S_IMODE(os.stat(os.path.join(self.volume, 'gas-meter.db')).st_mode)
        self.assertEqual(mode, 0o664)

    # ----------------------------------------------------------- consumption

    def test_an_empty_database_answers_zeros(self):
        status, usage = self.get('/', 'period=day&from=2026-01-01&to=2026-01-08')
        self.assertEqual(status, 200)
        self.assertEqual(len(usage['buckets']), 7)
        self.assertEqual(usage['total']['litres'], 0)
        status, rate = self.get('/rate')
        self.assertEqual((status, rate['devices']), (200, []))

    def test_defaults_are_the_last_24_hours(self):
        status, usage = self.get('/')
        self.assertEqual((status, usage['period'], usage['tz']), (200, 'hour', 'UTC'))
        self.assertIn(len(usage['buckets']), (24, 25))  # whole hours around now

    def test_days_follow_the_local_clock(self):
        # Europe/Berlin went to summer time on 2026-03-29: that day has 23 hours.
        status, usage = self.get('/', 'period=day&tz=Europe/Berlin&from=2026-03-28&to=2026-03-31')
        self.assertEqual(status, 200)
        self.assertEqual([b['start'] for b in usage['buckets']],
                         ['2026-03-28T00:00:00+01:00', '2026-03-29T00:00:00+01:00', '2026-03-30T00:00:00+02:00'])
        status, hours = self.get('/', 'period=hour&tz=Europe/Berlin&from=2026-03-29&to=2026-03-30')
        self.assertEqual(len(hours['buckets']), 23)

    def test_local_buckets_hold_local_usage(self):
        self.replay()  # 06:00-06:09 UTC is 07:00-07:09 in Berlin in January
        status, usage = self.get('/', 'period=hour&tz=Europe/Berlin&from=2026-01-15T07:00&to=2026-01-15T08:00')
        self.assertEqual(status, 200)
        self.assertEqual(usage['buckets'], [{'start': '2026-01-15T07:00:00+01:00', 'end': '2026-01-15T08:00:00+01:00',
                                             'rotations': 15, 'litres': 150.0, 'm3': 0.15}])

    def test_the_rate_comes_from_the_last_rotations(self):
        self.replay()
        _, rate = self.get('/rate', 'device=gas-meter-1')
        # Hot water at ~1.7 m³/h at the end, then the drum stops for the 10 s tail: the flow
        # is at most 10 L over the time since the last rotation.
        self.assertIsNotNone(rate['flow'])
        self.assertGreater(rate['flow']['m3_per_hour'], 1.0)
        self.assertLess(rate['flow']['m3_per_hour'], 2.5)
        self.assertIn('basis', rate)

    def test_bad_queries_are_400_naming_the_parameter(self):
        cases = [
            ('period=week', 'period', '"hour" or "day"'),
            ('from=yesterday', 'from', 'ISO 8601'),
            ('to=2026-13-01', 'to', 'ISO 8601'),
            ('from=2026-01-16&to=2026-01-15', 'from', 'before'),
            ('tz=Mars/Olympus', 'tz', 'time zone'),
            ('device=a%20b', 'device', 'device id'),
            ('perod=hour', 'perod', 'unknown parameter'),
            ('period=hour&period=day', 'period', '2 times'),
            ('period=hour&from=2020-01-01&to=2026-01-01', 'from', 'more than 1000'),
        ]
        for query, field, reason in cases:
            with self.subTest(query=query):
                status, body = self.get('/', query)
                self.assertEqual(status, 400)
                self.assertEqual((body['error'], body['field']), ('invalid_query', field))
                self.assertIn(reason, body['message'])
        status, body = self.get('/rate', 'period=hour')
        self.assertEqual((status, body['field']), (400, 'period'))

    def test_unknown_paths_devices_and_methods(self):
        self.assertEqual(self.get('/usage')[0], 404)
        status, body = self.get('/rate', 'device=nope')
        self.assertEqual((status, body['error']), (404, 'unknown_device'))
        body, status, headers = self.api.handle(Event('DELETE', '/'), self.ctx)
        self.assertEqual((status, headers['Allow']), (405, 'GET'))


if __name__ == '__main__':
    unittest.main()
