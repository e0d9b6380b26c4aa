"""Unit tests of the Python runtime (standard library only):

    python3 -m unittest discover -s runtimes/python -p 'test_*.py'

Run from node by src/providers/local/python-launcher.test.ts. The first part tests
the pure functions; the second starts real runtime processes and talks HTTP to them.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, 'server.py')
sys.path.insert(0, HERE)
import kss_runtime as server  # noqa: E402


class ToResponseTest(unittest.TestCase):
    def test_plain_values(self):
        self.assertEqual(server.to_response('hi'), (200, [('Content-Type', 'text/plain; charset=utf-8')], b'hi'))
        self.assertEqual(server.to_response(b'\x00\x01'),
                         (200, [('Content-Type', 'application/octet-stream')], b'\x00\x01'))
        status, headers, body = server.to_response({'a': [1, 'é']})
        self.assertEqual((status, headers), (200, [('Content-Type', 'application/json; charset=utf-8')]))
        self.assertEqual(json.loads(body), {'a': [1, 'é']})
        self.assertEqual(server.to_response([1, 2])[2], b'[1, 2]')
        self.assertEqual(server.to_response(None), (204, [], None))

    def test_tuples(self):
        self.assertEqual(server.to_response(('made', 201)), (201, [('Content-Type', 'text/plain; charset=utf-8')], b'made'))
        status, headers, body = server.to_response(('<b>x</b>', 200, {'Content-Type': 'text/html', 'X-A': 1}))
        self.assertEqual(headers, [('Content-Type', 'text/html'), ('X-A', '1')])
        status, headers, body = server.to_response((None, 302, [('Location', '/x'), ('Set-Cookie', 'a=1'), ('Set-Cookie', 'b=2')]))
        self.assertEqual((status, body), (302, None))
        self.assertEqual([v for k, v in headers if k == 'Set-Cookie'], ['a=1', 'b=2'])

    def test_openfaas_python3_http_form(self):
        self.assertEqual(server.to_response({'statusCode': 202, 'body': 'ok', 'headers': {'X-Y': 'z'}}),
                         (202, [('X-Y', 'z'), ('Content-Type', 'text/plain; charset=utf-8')], b'ok'))
        # A dict with other keys is just JSON.
        self.assertEqual(server.to_response({'statusCode': 1, 'other': 2})[0], 200)

    def test_hop_by_hop_and_length_headers_are_dropped(self):
        _, headers, _ = server.to_response(('x', 200, {'Connection': 'close', 'Content-Length': '99', 'X-Ok': '1'}))
        self.assertEqual([k for k, _ in headers], ['X-Ok', 'Content-Type'])

    def test_bad_results(self):
        for bad in [object(), ('x', '200'), ('x', 99), ('x', 200, {'X': 'a\r\nInjected: 1'}), ('a', 200, {}, 'extra'),
                    {'k': object()}, ('x', True), ('x', 101), {'n': float('nan')}]:
            with self.assertRaises(server.BadResult, msg=repr(bad)):
                server.to_response(bad)


class EventTest(unittest.TestCase):
    def test_headers_are_case_insensitive(self):
        h = server.Headers([('Content-Type', 'text/plain'), ('X-Multi', 'a'), ('x-multi', 'b')])
        self.assertEqual(h['content-type'], 'text/plain')
        self.assertEqual(h.get('CONTENT-TYPE'), 'text/plain')
        self.assertIn('X-MULTI', h)
        self.assertEqual(dict(h), {'content-type': 'text/plain', 'x-multi': 'a, b'})
        self.assertEqual(json.loads(json.dumps(h)), {'content-type': 'text/plain', 'x-multi': 'a, b'})
        from collections.abc import Mapping
        self.assertIsInstance(h, Mapping)
        h['X-New'] = '1'
        self.assertEqual(h.pop('x-NEW'), '1')

    def test_query_text_and_json(self):
        e = server.Event('POST', '/p', 'a=1&a=2&b=&c=%C3%A9+x', server.Headers(), b'{"k": 1}')
        self.assertEqual(e.query, {'a': '1', 'b': '', 'c': 'é x'})
        self.assertEqual(e.json(), {'k': 1})
        self.assertEqual(server.Event('GET', '/', '', server.Headers(), b'\xff ok').text, '\ufffd ok')
        self.assertIsNone(server.Event('GET', '/', '', server.Headers(), b'').json())
        with self.assertRaises(ValueError):
            server.Event('GET', '/', '', server.Headers(), b'{nope').json()


class ConfigTest(unittest.TestCase):
    def test_config(self):
        with self.assertRaises(server.ConfigError):
            server.read_config({})
        for bad in [{'PORT': 'x'}, {'PORT': '70000'}, {'PORT': '1', 'KSS_GRACE_MS': '-1'},
                    {'PORT': '1', 'KSS_MAX_INFLIGHT': '0'}]:
            with self.assertRaises(server.ConfigError, msg=repr(bad)):
                server.read_config(bad)
        c = server.read_config({'PORT': '8080', 'KSS_MAX_INFLIGHT': '7'})
        self.assertEqual((c['port'], c['host'], c['max_inflight'], c['grace_ms']), (8080, '0.0.0.0', 7, 10000))


ECHO = '''
import json
def handle(event, context):
    return {"method": event.method, "path": event.path, "query": event.query, "body": event.text,
            "headers": event.headers, "fn": context.function_name}
'''


class IdentityTest(unittest.TestCase):
    def test_run_groups(self):
        # KSS_RUN_GROUPS: the gids of the function's volumes, become its supplementary groups.
        self.assertEqual(server.parse_groups(''), [])
        self.assertEqual(server.parse_groups('590000'), [590000])
        self.assertEqual(server.parse_groups('590000,590003'), [590000, 590003])
        for bad in ('a', '1,', ',1', '1;2', '1 2', '-1', '\u0663'):
            with self.assertRaises(ValueError):
                server.parse_groups(bad)


class Runtime:
    """A runtime process on a free port, serving `files`."""

    def __init__(self, files, env=None, wait=True):
        self.dir = tempfile.mkdtemp(prefix='kss-py-test-')
        for path, text in files.items():
            full = os.path.join(self.dir, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, 'w') as f:
                f.write(text)
        base = {'PATH': os.environ.get('PATH', ''), 'PORT': '0', 'HOST': '127.0.0.1', 'KSS_CODE_DIR': self.dir,
                'KSS_PARENT_PIPE': '1', 'KSS_FUNCTION_NAME': 'unit', 'PYTHONUNBUFFERED': '1',
                'PYTHONDONTWRITEBYTECODE': '1'}
        base.update(env or {})
        self.proc = subprocess.Popen([sys.executable, '-S', SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=base, cwd=self.dir)
        self.port = None
        if wait:
            line = self.proc.stdout.readline().decode()
            if 'ready on http://' not in line:
                raise AssertionError('runtime did not start: %r %r' % (line, self.proc.stderr.read().decode()))
            self.port = int(line.split('ready on http://', 1)[1].split(' ', 1)[0].rsplit(':', 1)[1])

    def conn(self):
        return http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r, data

    def raw(self, data, read_until_close=True):
        s = socket.create_connection(('127.0.0.1', self.port), timeout=10)
        s.sendall(data)
        chunks = []
        if read_until_close:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        s.close()
        return b''.join(chunks)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        out, err = self.proc.communicate()
        shutil.rmtree(self.dir, ignore_errors=True)
        return out.decode(), err.decode()

    def wait(self, timeout=10):
        code = self.proc.wait(timeout)
        out, err = self.proc.communicate()
        shutil.rmtree(self.dir, ignore_errors=True)
        return code, out.decode(), err.decode()


class ProcessTest(unittest.TestCase):
    def test_endpoints_echo_and_keep_alive(self):
        rt = Runtime({'handler.py': ECHO}, {'KSS_FUNCTION_NAME': 'echo'})
        try:
            c = rt.conn()
            r, body = rt.request('GET', '/health', conn=c)
            self.assertEqual((r.status, json.loads(body)), (200, {'status': 'ok'}))
            r, body = rt.request('GET', '/ready', conn=c)
            self.assertEqual(r.status, 200)
            r, body = rt.request('PATCH', '/a/b?x=1&x=2', body=b'hello', headers={'X-Test': 'T'}, conn=c)
            echo = json.loads(body)
            self.assertEqual((echo['method'], echo['path'], echo['query'], echo['body'], echo['fn']),
                             ('PATCH', '/a/b', {'x': '1'}, 'hello', 'echo'))
            self.assertEqual(echo['headers']['x-test'], 'T')
            r, body = rt.request('GET', '/metrics', conn=c)
            text = body.decode()
            self.assertTrue(r.getheader('Content-Type').startswith('text/plain'))
            self.assertIn('runtime_requests_total{code="200"} 1', text)
            self.assertIn('runtime_request_duration_seconds_count 1', text)
            self.assertIn('runtime_requests_in_flight 0', text)
            r, body = rt.request('HEAD', '/x', conn=c)
            self.assertEqual((r.status, body), (200, b''))
            self.assertGreater(int(r.getheader('Content-Length')), 0)
            c.close()
        finally:
            rt.stop()

    def test_chunked_bodies_pipelining_and_bad_requests(self):
        rt = Runtime({'handler.py': 'def handle(event, context):\n    return str(len(event.body)) + ":" + event.text[:5]\n'})
        try:
            chunked = (b'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
                       b'5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n')
            plain = b'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc'
            out = rt.raw(chunked + plain)
            self.assertEqual(out.count(b'HTTP/1.1 200 OK'), 2, out)
            self.assertIn(b'11:hello', out)
            self.assertIn(b'3:abc', out)
            self.assertIn(b'Connection: close', out)
            for bad in [b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n',
                        b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
                        b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
                        b'GET / HTTP/1.1\r\nBad Header Line\r\n\r\n']:
                self.assertTrue(rt.raw(bad).startswith(b'HTTP/1.1 400'), bad)
            rt.raw(b'NONSENSE\r\n\r\n')  # answered the HTTP/0.9 way (no status line), and closed
            r, _ = rt.request('GET', '/still-fine')
            self.assertEqual(r.status, 200)
        finally:
            rt.stop()

    def test_errors_are_500_without_details(self):
        rt = Runtime({'handler.py': 'def handle(event, context):\n'
                                    '    if event.path == "/json":\n        return event.json()\n'
                                    '    if event.path == "/bad":\n        return object()\n'
                                    '    if event.path == "/exit":\n        raise SystemExit(3)\n'
                                    '    raise KeyError("secret-internal-detail")\n'})
        try:
            for path in ['/boom', '/bad', '/exit']:
                r, body = rt.request('GET', path)
                self.assertEqual((r.status, body), (500, b'Internal Server Error'), path)
            r, body = rt.request('POST', '/json', body=b'{not json', headers={'Content-Type': 'application/json'})
            self.assertEqual(r.status, 400)
            r, body = rt.request('POST', '/json', body=b'[1]')
            self.assertEqual((r.status, body), (200, b'[1]'))
        finally:
            _, err = rt.stop()
        self.assertIn('secret-internal-detail', err)
        self.assertIn('Traceback', err)
        self.assertIn('handler.py", line 8, in handle', err)

    def test_concurrency_limit_answers_429(self):
        rt = Runtime({'handler.py': 'import time\ndef handle(event, context):\n    time.sleep(1.0)\n    return "done"\n'},
                     {'KSS_MAX_INFLIGHT': '1'})
        try:
            results = []
            t = threading.Thread(target=lambda: results.append(rt.request('GET', '/slow')))
            t.start()
            time.sleep(0.4)  # the first request is in the handler by now, even on a loaded machine
            r, body = rt.request('POST', '/second', body=b'x' * 1000)
            self.assertEqual(r.status, 429)
            self.assertEqual(r.getheader('X-Kss-Error'), 'KSS_RATE_LIMITED')
            self.assertEqual(json.loads(body)['code'], 'KSS_RATE_LIMITED')
            t.join()
            self.assertEqual((results[0][0].status, results[0][1]), (200, b'done'))
            # The slot is released just after the first reply is written: allow it a moment under load.
            for _ in range(50):
                r, _ = rt.request('GET', '/third')
                if r.status == 200:
                    break
                time.sleep(0.02)
            self.assertEqual(r.status, 200)
        finally:
            rt.stop()

    def test_handler_forms_and_sys_path(self):
        rt = Runtime({
            'handler.py': 'import server, vendored, helper\n'
                          'async def handle(event):\n    return server.NAME + vendored.NAME + helper.NAME\n',
            'server.py': 'NAME = "user-server "\n',  # shadows nothing of the runtime
            'helper.py': 'NAME = "local"\n',
            '.python_packages/vendored.py': 'NAME = "vendored "\n',
            '.python_packages/helper.py': 'NAME = "from-packages"\n',
        })
        try:
            r, body = rt.request('GET', '/')
            self.assertEqual(body, b'user-server vendored from-packages')
        finally:
            rt.stop()

    def test_handler_named_by_kss_handler(self):
        rt = Runtime({'fn/main.py': 'from util import x\ndef handle(event, context):\n    return x\n', 'fn/util.py': 'x = "sub"\n'},
                     {'KSS_HANDLER': 'fn/main.py'})
        try:
            self.assertEqual(rt.request('GET', '/')[1], b'sub')
        finally:
            rt.stop()

    def test_exit_codes(self):
        cases = [
            ({}, {'PORT': ''}, 2, 'PORT is required'),
            ({'other.py': ''}, {}, 3, 'no handler.py'),
            ({'handler.py': 'def handle(event, context)\n    pass\n'}, {}, 3, 'SyntaxError'),
            ({'handler.py': 'import not_a_module_kss\n'}, {}, 3, 'not_a_module_kss'),
            ({'handler.py': 'def other(event, context): pass\n'}, {}, 3, 'def handle(event, context)'),
            ({'handler.py': 'def handle(): pass\n'}, {}, 3, 'takes no parameters'),
        ]
        for files, env, code, message in cases:
            rt = Runtime(files, env, wait=False)
            got, _, err = rt.wait()
            self.assertEqual(got, code, (files, err))
            self.assertIn(message, err)

    def test_sigterm_drains_in_flight_requests(self):
        rt = Runtime({'handler.py': 'import time\ndef handle(event, context):\n    time.sleep(0.6)\n    return "slow done"\n'},
                     {'KSS_GRACE_MS': '5000'})
        idle = rt.conn()
        rt.request('GET', '/health', conn=idle)  # an idle keep-alive connection must not hold the exit
        results = []
        t = threading.Thread(target=lambda: results.append(rt.request('GET', '/slow')))
        t.start()
        time.sleep(0.2)
        started = time.monotonic()
        rt.proc.send_signal(signal.SIGTERM)
        t.join()
        code, out, _ = rt.wait()
        idle.close()
        self.assertEqual(code, 0)
        self.assertEqual((results[0][0].status, results[0][1]), (200, b'slow done'))
        self.assertEqual(results[0][0].getheader('Connection'), 'close')
        self.assertLess(time.monotonic() - started, 3)
        self.assertIn('drained', out)

    def test_grace_period_bounds_the_drain(self):
        rt = Runtime({'handler.py': 'import time\ndef handle(event, context):\n    time.sleep(5)\n    return "late"\n'},
                     {'KSS_GRACE_MS': '300'})
        t = threading.Thread(target=lambda: rt.raw(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'), daemon=True)
        t.start()
        time.sleep(0.2)
        started = time.monotonic()
        rt.proc.send_signal(signal.SIGTERM)
        code, _, err = rt.wait()
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - started, 2)
        self.assertIn('grace period of 300 ms is over', err)

    def test_exits_when_the_platform_goes_away(self):
        rt = Runtime({'handler.py': ECHO})
        rt.proc.stdin.close()
        rt.proc.stdin = None
        code, out, _ = rt.wait()
        self.assertEqual(code, 0)
        self.assertIn('the platform went away', out)


if __name__ == '__main__':
    unittest.main()
