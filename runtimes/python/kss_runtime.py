"""The Python runtime's implementation; ``server.py`` (its entry point) documents the
contract. A module rather than the script itself so that its compiled form is cached
(a script is compiled on every start): ``python3 -m compileall runtimes/python``
writes it, which the Python builder does once per gateway process.
"""
import sys

_T0 = __import__('time').perf_counter()

import os  # noqa: E402  (with -S, os is not preloaded)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_CONFIG = 2
EXIT_HANDLER_LOAD = 3

#: Idle keep-alive connections are kept this long (s): longer than the gateway's pool
#: keeps them, so the gateway always closes an idle socket first.
KEEP_ALIVE_TIMEOUT_S = 75
DEFAULT_GRACE_MS = 10_000
DEFAULT_MAX_INFLIGHT = 100
HANDLER_FILE = 'handler.py'
EXPECTED_SIGNATURE = 'def handle(event, context)'

#: Duration histogram buckets (seconds), as in the Node runtime (prom-client's defaults).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BUCKET_LABELS = ('0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10')
METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

#: Headers a handler may not set: they describe one connection, or the runtime computes them.
_HOP_BY_HOP = frozenset(('connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer',
                         'upgrade', 'content-length', 'date'))
_HEX = frozenset(b'0123456789abcdefABCDEF')


class ConfigError(Exception):
    """An environment the runtime cannot start with (exit 2)."""


class HandlerLoadError(Exception):
    """A handler that cannot be loaded (exit 3)."""


class BadRequest(Exception):
    """A request the runtime cannot read (answered 400, connection closed)."""


class ClientGone(Exception):
    """The client went away before its request body arrived."""


class InvalidJSON(ValueError):
    """``event.json()`` on a body that is not JSON; answered 400 if the handler lets it escape."""


# --------------------------------------------------------------------------- logging

class Log:
    """The runtime's own log lines, prefixed with the function's name: info to stdout, problems to stderr."""

    def __init__(self, name):
        self.prefix = '[kss-runtime %s] ' % name

    def info(self, message):
        sys.stdout.write(self.prefix + message + '\n')

    def warn(self, message):
        sys.stderr.write(self.prefix + 'warn: ' + message + '\n')

    def error(self, message, exc=None):
        text = self.prefix + 'error: ' + message + '\n'
        if exc is not None:
            import traceback
            text += ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        sys.stderr.write(text)


# --------------------------------------------------------------------------- config

def _non_negative_int(name, raw, maximum):
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        raise ConfigError('%s must be a non-negative integer, got "%s"' % (name, raw))
    value = int(raw)
    if value > maximum:
        raise ConfigError('%s must be at most %d, got %d' % (name, maximum, value))
    return value


def read_config(env):
    """Reads and validates the environment; raises ConfigError."""
    port = env.get('PORT', '')
    if port == '':
        raise ConfigError('PORT is required')
    max_inflight = _non_negative_int('KSS_MAX_INFLIGHT', env['KSS_MAX_INFLIGHT'], 1_000_000) \
        if env.get('KSS_MAX_INFLIGHT') else DEFAULT_MAX_INFLIGHT
    if max_inflight < 1:
        raise ConfigError('KSS_MAX_INFLIGHT must be at least 1')
    return {
        'port': _non_negative_int('PORT', port, 65_535),
        'host': env.get('HOST') or '0.0.0.0',
        'code_dir': os.path.abspath(env.get('KSS_CODE_DIR') or os.getcwd()),
        'handler': env.get('KSS_HANDLER') or None,
        'function_name': env.get('KSS_FUNCTION_NAME') or 'function',
        'namespace': env.get('KSS_FUNCTION_NAMESPACE') or '',
        'instance': env.get('KSS_INSTANCE') or '',
        'grace_ms': _non_negative_int('KSS_GRACE_MS', env['KSS_GRACE_MS'], 2_147_483_647)
        if env.get('KSS_GRACE_MS') else DEFAULT_GRACE_MS,
        'max_inflight': max_inflight,
        'parent_pipe': env.get('KSS_PARENT_PIPE') == '1',
        'site': env.get('KSS_PYTHON_SITE') or 'paths',
    }


# --------------------------------------------------------------------------- sys.path

def add_site_paths(mode):
    """Under ``python3 -S``, deliberately adds the interpreter's site-packages (see the module doc)."""
    if not sys.flags.no_site or mode == 'none':
        return
    import site
    if mode == 'full':
        site.main()
        return
    dirs = list(site.getsitepackages())
    if site.check_enableusersite():
        dirs.insert(0, site.getusersitepackages())
    seen = set(sys.path)
    for d in dirs:
        if d in seen or not os.path.isdir(d):
            continue
        sys.path.append(d)
        seen.add(d)
        try:
            names = sorted(n for n in os.listdir(d) if n.endswith('.pth') and not n.startswith('.'))
        except OSError:
            continue
        for name in names:
            try:
                with open(os.path.join(d, name), encoding='utf-8') as f:
                    lines = f.read().splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for line in lines:
                line = line.strip()
                if not line or line.startswith('#') or line.startswith('import ') or line.startswith('import\t'):
                    continue
                p = os.path.join(d, line)
                if p not in seen and os.path.isdir(p):
                    sys.path.append(p)
                    seen.add(p)


def resolve_handler_file(code_dir, handler):
    """The handler file: ``handler`` (file, or folder holding handler.py) relative to ``code_dir``, else handler.py."""
    if not os.path.isdir(code_dir):
        raise HandlerLoadError('code directory %s does not exist (KSS_CODE_DIR)' % code_dir)
    if handler:
        path = os.path.normpath(os.path.join(code_dir, handler))
        if os.path.isdir(path):
            candidate = os.path.join(path, HANDLER_FILE)
            if os.path.isfile(candidate):
                return candidate
            raise HandlerLoadError('handler folder %s has no %s' % (handler, HANDLER_FILE))
        if os.path.isfile(path):
            return path
        raise HandlerLoadError('handler file %s does not exist (KSS_HANDLER, code directory %s)' % (handler, code_dir))
    path = os.path.join(code_dir, HANDLER_FILE)
    if os.path.isfile(path):
        return path
    raise HandlerLoadError('no %s in %s (set KSS_HANDLER to choose another file)' % (HANDLER_FILE, code_dir))


class Handler:
    """The loaded user function and how to call it."""
    __slots__ = ('fn', 'file', 'nargs', 'is_async')

    def __init__(self, fn, file, nargs, is_async):
        self.fn = fn
        self.file = file
        self.nargs = nargs
        self.is_async = is_async


def _positional_params(fn):
    """How many positional arguments ``fn`` takes (2 when it takes *args or cannot be told), without inspect."""
    code = getattr(fn, '__code__', None)
    drop = 0
    if code is None and getattr(fn, '__func__', None) is not None:  # a bound method
        code = getattr(fn.__func__, '__code__', None)
        drop = 1
    if code is None:
        return 2, False
    if code.co_flags & 0x04:  # CO_VARARGS
        return 2, bool(code.co_flags & 0x80)
    return code.co_argcount - drop, bool(code.co_flags & 0x80)  # CO_COROUTINE


def load_handler(code_dir, handler):
    """Puts the function's folders on sys.path and imports its handler; raises HandlerLoadError."""
    file = resolve_handler_file(code_dir, handler)
    front = []
    packages = os.path.join(code_dir, '.python_packages')
    if os.path.isdir(packages):
        front.append(packages)
    handler_dir = os.path.dirname(file)
    if handler_dir != code_dir:
        front.append(handler_dir)
    front.append(code_dir)
    sys.path[0:0] = [p for p in front if p not in sys.path]

    import importlib.util
    stem = os.path.basename(file).rsplit('.', 1)[0]
    # Registered under its own name (so `import handler` elsewhere finds the same module), unless that
    # would take the place of a standard module.
    taken = stem in sys.modules or stem in sys.builtin_module_names or stem in getattr(sys, 'stdlib_module_names', ())
    name = stem if stem.isidentifier() and not taken else '__kss_handler__'
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None:  # not a .py name: load it as source anyway
        from importlib.machinery import SourceFileLoader
        spec = importlib.util.spec_from_loader(name, SourceFileLoader(name, file))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before executing: dataclasses, pickle and self-imports look it up
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from module code too
        sys.modules.pop(name, None)
        import traceback
        tb = exc.__traceback__  # from the handler's own frame on: the runtime's and importlib's are noise
        while tb is not None and tb.tb_frame.f_code.co_filename != file:
            tb = tb.tb_next
        detail = ''.join(traceback.format_exception(type(exc), exc, tb))
        raise HandlerLoadError('handler file %s failed to load:\n%s' % (file, detail.rstrip())) from None
    fn = getattr(module, 'handle', None)
    if not callable(fn):
        raise HandlerLoadError('handler file %s defines no function "handle". Expected:\n  %s:\n      return "a str, bytes,'
                               ' dict/list (JSON), None (204) or (body, status[, headers])"' % (file, EXPECTED_SIGNATURE))
    nargs, is_async = _positional_params(fn)
    if nargs < 1:
        raise HandlerLoadError('handle() in %s takes no parameters. Expected:\n  %s' % (file, EXPECTED_SIGNATURE))
    if is_async:
        import asyncio  # noqa: F401  (loaded now rather than on the first request)
    return Handler(fn, file, nargs, is_async)


# --------------------------------------------------------------------------- handler API

class Headers(dict):
    """Request headers: a dict with lower-case names (repeated names joined by ", ") whose
    lookups ignore case, so ``headers['Content-Type']``, ``.get('content-type')`` and
    ``'CONTENT-TYPE' in headers`` agree; ``json.dumps`` and ``dict()`` take it as it is."""
    __slots__ = ()

    def __init__(self, pairs=()):
        dict.__init__(self)
        for name, value in pairs:
            key = name.lower()
            dict.__setitem__(self, key, dict.__getitem__(self, key) + ', ' + value if dict.__contains__(self, key)
                             else value)

    def __getitem__(self, name):
        return dict.__getitem__(self, name.lower() if isinstance(name, str) else name)

    def get(self, name, default=None):
        return dict.get(self, name.lower() if isinstance(name, str) else name, default)

    def __contains__(self, name):
        return dict.__contains__(self, name.lower() if isinstance(name, str) else name)

    def __setitem__(self, name, value):
        dict.__setitem__(self, name.lower(), value)

    def __delitem__(self, name):
        dict.__delitem__(self, name.lower())

    def pop(self, name, *default):
        return dict.pop(self, name.lower() if isinstance(name, str) else name, *default)

    def __repr__(self):
        return 'Headers(%s)' % dict.__repr__(self)


class Event:
    """One request, as the handler sees it."""
    __slots__ = ('method', 'path', 'query_string', 'headers', 'body', '_query')

    def __init__(self, method, path, query_string, headers, body):
        self.method = method
        #: The path as received (percent-encoding kept), without the query string.
        self.path = path
        #: The raw query string (without "?").
        self.query_string = query_string
        self.headers = headers
        #: The request body, bytes.
        self.body = body
        self._query = None

    @property
    def query(self):
        """Query parameters, name → first value (decoded)."""
        if self._query is None:
            q = {}
            if self.query_string:
                from urllib.parse import parse_qsl
                for k, v in parse_qsl(self.query_string, keep_blank_values=True):
                    q.setdefault(k, v)
            self._query = q
        return self._query

    @property
    def text(self):
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode('utf-8', 'replace')

    def json(self):
        """The body parsed as JSON; None for an empty body. Raises InvalidJSON (a ValueError) otherwise."""
        if not self.body.strip():
            return None
        import json
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise InvalidJSON('request body is not valid JSON: %s' % exc) from None

    def __repr__(self):
        return '<Event %s %s (%d bytes)>' % (self.method, self.path, len(self.body))


class Context:
    """What the handler knows about where it runs."""
    __slots__ = ('function_name', 'namespace', 'instance', 'hostname')

    def __init__(self, function_name, namespace='', instance=''):
        self.function_name = function_name
        self.namespace = namespace
        self.instance = instance
        self.hostname = instance

    def log(self, *args):
        """Writes one line to the function's log (stdout)."""
        sys.stdout.write(' '.join(a if isinstance(a, str) else str(a) for a in args) + '\n')


# --------------------------------------------------------------------------- results

class BadResult(TypeError):
    """The handler returned something that cannot be sent."""


def _check_status(status):
    if type(status) is not int or not 200 <= status <= 599:
        raise BadResult('handler returned an invalid status %r (expected an int from 200 to 599)' % (status,))
    return status


def _header_list(headers):
    if headers is None:
        return []
    items = headers.items() if hasattr(headers, 'items') else headers
    out = []
    for pair in items:
        name, value = pair
        name = str(name)
        value = value if isinstance(value, str) else str(value)
        if not name or any(c in name for c in ' \t\r\n:') or '\r' in value or '\n' in value:
            raise BadResult('handler returned an invalid header %r' % (name,))
        out.append((name, value))
    return out


def encode_body(body):
    """(bytes, default content type) for a body value; (None, None) for None."""
    if body is None:
        return None, None
    if isinstance(body, str):
        return body.encode('utf-8'), 'text/plain; charset=utf-8'
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), 'application/octet-stream'
    if isinstance(body, (dict, list, int, float)) or body is True or body is False:
        import json
        try:
            return json.dumps(body, ensure_ascii=False, allow_nan=False).encode('utf-8'), \
                'application/json; charset=utf-8'
        except (TypeError, ValueError) as exc:
            raise BadResult('handler returned a value that cannot be sent as JSON: %s' % exc) from None
    raise BadResult('handler returned a %s; return str, bytes, dict, list, None or (body, status[, headers])'
                    % type(body).__name__)


def to_response(result):
    """Turns a handler's return value into (status, [(name, value)], body bytes or None)."""
    status = None
    headers = None
    if type(result) is tuple:
        if not 2 <= len(result) <= 3:
            raise BadResult('handler returned a tuple of %d items; expected (body, status) or (body, status, headers)'
                            % len(result))
        body = result[0]
        status = _check_status(result[1])
        headers = result[2] if len(result) == 3 else None
    elif type(result) is dict and 'statusCode' in result and set(result) <= {'statusCode', 'body', 'headers'}:
        # The OpenFaaS python3-http template's form: {"statusCode": 200, "body": ..., "headers": {...}}.
        body = result.get('body')
        status = _check_status(result['statusCode'])
        headers = result.get('headers')
    else:
        body = result
    data, content_type = encode_body(body)
    header_list = [h for h in _header_list(headers) if h[0].lower() not in _HOP_BY_HOP]
    if data is None:
        return (204 if status is None else status), header_list, None
    if content_type and not any(h[0].lower() == 'content-type' for h in header_list):
        header_list.append(('Content-Type', content_type))
    return (200 if status is None else status), header_list, data


# --------------------------------------------------------------------------- metrics

class Metrics:
    """Request counters of the handler path, rendered as Prometheus text (same names as the Node runtime)."""

    def __init__(self, lock):
        self.lock = lock
        self.by_code = {}
        self.buckets = [0] * len(DURATION_BUCKETS)
        self.sum = 0.0
        self.count = 0
        self.in_flight = 0

    def end(self, code, seconds):
        """Records a finished request (call with the lock held)."""
        self.by_code[code] = self.by_code.get(code, 0) + 1
        for i, bound in enumerate(DURATION_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1
        self.sum += seconds
        self.count += 1

    def render(self):
        with self.lock:
            lines = ['# HELP runtime_requests_total Requests handled by the function, by HTTP status code.',
                     '# TYPE runtime_requests_total counter']
            for code in sorted(self.by_code):
                lines.append('runtime_requests_total{code="%d"} %d' % (code, self.by_code[code]))
            lines.append('# HELP runtime_request_duration_seconds Time from request received to response finished,'
                         ' in seconds.')
            lines.append('# TYPE runtime_request_duration_seconds histogram')
            for label, n in zip(_BUCKET_LABELS, self.buckets):
                lines.append('runtime_request_duration_seconds_bucket{le="%s"} %d' % (label, n))
            lines.append('runtime_request_duration_seconds_bucket{le="+Inf"} %d' % self.count)
            lines.append('runtime_request_duration_seconds_sum %r' % self.sum)
            lines.append('runtime_request_duration_seconds_count %d' % self.count)
            lines.append('# HELP runtime_requests_in_flight Requests currently being handled by the function.')
            lines.append('# TYPE runtime_requests_in_flight gauge')
            lines.append('runtime_requests_in_flight %d' % self.in_flight)
        return '\n'.join(lines) + '\n'


# --------------------------------------------------------------------------- HTTP

_DAYS = ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')
_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')
_date_cache = [0, '']


def http_date():
    import time
    now = int(time.time())
    if _date_cache[0] != now:
        t = time.gmtime(now)
        _date_cache[1] = '%s, %02d %s %04d %02d:%02d:%02d GMT' % (
            _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)
        _date_cache[0] = now
    return _date_cache[1]


def serve(config, handler, log):
    """Binds, serves until SIGTERM/SIGINT (or stdin EOF with KSS_PARENT_PIPE=1), drains, and exits."""
    import socket
    import selectors
    import signal
    import threading
    import socketserver
    from http import HTTPStatus
    from time import perf_counter

    reasons = {s.value: s.phrase for s in HTTPStatus}
    lock = threading.Lock()
    drained = threading.Condition(lock)
    metrics = Metrics(lock)
    context = Context(config['function_name'], config['namespace'], config['instance'])
    max_inflight = config['max_inflight']
    fn = handler.fn
    two_args = handler.nargs >= 2
    tls = threading.local()
    connections = set()
    state = {'stopping': False, 'busy': 0, 'exit_code': EXIT_OK}

    ready_ok = b'{"status":"ready"}'
    ready_stopping = b'{"status":"shutting down"}'
    health_ok = b'{"status":"ok"}'
    json_type = 'application/json'
    overloaded = ('{"code":"KSS_RATE_LIMITED","message":"this replica is already handling %d requests'
                  ' (KSS_MAX_INFLIGHT); retry shortly"}' % max_inflight).encode()

    def run_awaitable(awaitable):
        loop = getattr(tls, 'loop', None)
        if loop is None:
            import asyncio
            loop = tls.loop = asyncio.new_event_loop()
        return loop.run_until_complete(awaitable)

    class RequestHandler(socketserver.StreamRequestHandler):
        """One keep-alive HTTP/1.1 connection (in its own thread): requests are read and answered in turn."""
        disable_nagle_algorithm = True
        timeout = KEEP_ALIVE_TIMEOUT_S
        busy = False

        def setup(self):
            socketserver.StreamRequestHandler.setup(self)
            with lock:
                connections.add(self)

        def finish(self):
            try:
                socketserver.StreamRequestHandler.finish(self)
            except OSError:
                pass
            finally:
                self._idle()
                with lock:
                    connections.discard(self)

        def _idle(self):
            if self.busy:
                with lock:
                    self.busy = False
                    state['busy'] -= 1
                    if state['stopping']:
                        drained.notify_all()

        def handle(self):
            self.close_connection = True
            try:
                self.handle_one_request()
                while not self.close_connection:
                    self.handle_one_request()
            except (ConnectionError, TimeoutError, OSError):
                self.close_connection = True

        def handle_one_request(self):
            self._idle()
            line = self.rfile.readline(65537)
            if not line:
                self.close_connection = True
                return
            with lock:
                self.busy = True
                state['busy'] += 1
            if not self.parse(line):
                return
            self.dispatch()

        def fail(self, status):
            """Answers a request that cannot be read, and closes the connection."""
            self.close_connection = True
            self.send_text(status)
            return False

        def parse(self, line):
            """Request line and headers (strict, and much cheaper than http.client's email parser)."""
            self.close_connection = True
            self.request_version = 'HTTP/1.1'
            self.command = ''
            if len(line) > 65536:
                return self.fail(414)
            words = line.decode('latin-1').rstrip('\r\n').split(' ')
            if len(words) != 3 or not words[0] or not words[1]:
                return self.fail(400)
            method, target, version = words
            if version == 'HTTP/1.1':
                keep_alive = True
            elif version == 'HTTP/1.0':
                keep_alive = False
            elif version.startswith('HTTP/'):
                return self.fail(505)
            else:
                return self.fail(400)
            self.request_version = version
            self.command = method
            self.path = target
            pairs = []
            readline = self.rfile.readline
            while True:
                raw = readline(65537)
                if raw == b'\r\n' or raw == b'\n':
                    break
                if not raw:
                    raise ConnectionResetError('client closed the connection in the headers')
                if len(raw) > 65536 or len(pairs) >= 200:
                    return self.fail(431)
                name, sep, value = raw.decode('latin-1').partition(':')
                if not sep or not name or name != name.strip() or ' ' in name or '\t' in name:
                    return self.fail(400)  # also rejects obsolete line folding
                pairs.append((name, value.strip()))
            self.headers = headers = Headers(pairs)
            connection = headers.get('connection')
            if connection:
                tokens = connection.lower()
                if 'close' in tokens:
                    keep_alive = False
                elif 'keep-alive' in tokens:
                    keep_alive = True
            self.close_connection = not keep_alive
            if version == 'HTTP/1.1' and headers.get('expect', '').lower() == '100-continue':
                self.wfile.write(b'HTTP/1.1 100 Continue\r\n\r\n')
            return True

        # -- reading the request

        def read_body(self):
            h = self.headers
            te = h.get('transfer-encoding')
            if te is not None:
                if te.split(',')[-1].strip().lower() != 'chunked' or 'content-length' in h:
                    raise BadRequest('unsupported Transfer-Encoding %r' % te)
                return self.read_chunked()
            length = h.get('content-length')
            if length is None:
                return b''
            values = set(v.strip() for v in length.split(','))
            raw = values.pop()
            if values or not raw.isascii() or not raw.isdigit():
                raise BadRequest('invalid Content-Length %r' % length)
            n = int(raw)
            if n == 0:
                return b''
            data = self.rfile.read(n)
            if len(data) != n:
                raise ClientGone()
            return data

        def read_chunked(self):
            readline = self.rfile.readline
            read = self.rfile.read
            parts = []
            while True:
                line = readline(4098)
                if not line.endswith(b'\n'):
                    raise BadRequest('chunk header too long') if len(line) >= 4098 else ClientGone()
                size = line.split(b';', 1)[0].strip()
                if not size or len(size) > 16 or not _HEX.issuperset(size):
                    raise BadRequest('invalid chunk size')
                n = int(size, 16)
                if n == 0:
                    break
                chunk = read(n)
                if len(chunk) != n:
                    raise ClientGone()
                parts.append(chunk)
                end = readline(3)
                if end not in (b'\r\n', b'\n'):
                    raise ClientGone() if not end else BadRequest('chunk not followed by CRLF')
            while True:  # trailers, ignored
                line = readline(65537)
                if line in (b'\r\n', b'\n'):
                    break
                if not line.endswith(b'\n'):
                    raise ClientGone() if not line else BadRequest('trailer too long')
            return b''.join(parts)

        # -- writing the response

        def send(self, status, headers, body, head=False):
            """One response with a Content-Length; headers and a small body go out in one write."""
            out = ['HTTP/1.1 %d %s\r\nDate: %s\r\n' % (status, reasons.get(status, ''), http_date())]
            for name, value in headers:
                out.append('%s: %s\r\n' % (name, value))
            if status >= 200 and status != 204 and status != 304:
                out.append('Content-Length: %d\r\n' % (len(body) if body else 0))
            if state['stopping']:
                self.close_connection = True
            if self.close_connection:
                out.append('Connection: close\r\n')
            elif self.request_version == 'HTTP/1.0':
                out.append('Connection: keep-alive\r\n')
            out.append('\r\n')
            data = ''.join(out).encode('latin-1')
            if body and not head and status >= 200 and status != 204 and status != 304:
                if len(body) < 65536:
                    self.wfile.write(data + body)
                    return
                self.wfile.write(data)
                self.wfile.write(body)
            else:
                self.wfile.write(data)

        def send_text(self, status, headers=()):
            self.send(status, [('Content-Type', 'text/plain; charset=utf-8')] + list(headers),
                      reasons.get(status, str(status)).encode())

        # -- routing

        def dispatch(self):
            target = self.path
            if not target.startswith('/') and '://' in target:  # absolute-form: keep path and query
                target = '/' + target.split('://', 1)[1].partition('/')[2]
            path, _, query = target.partition('?')
            method = self.command
            if method == 'GET' and (path == '/health' or path == '/ready' or path == '/metrics'):
                try:
                    self.read_body()
                except BadRequest:
                    self.close_connection = True
                    return self.send_text(400)
                except ClientGone:
                    self.close_connection = True
                    return
                if path == '/health':
                    return self.send(200, [('Content-Type', json_type)], health_ok)
                if path == '/ready':
                    if state['stopping']:
                        return self.send(503, [('Content-Type', json_type)], ready_stopping)
                    return self.send(200, [('Content-Type', json_type)], ready_ok)
                return self.send(200, [('Content-Type', METRICS_CONTENT_TYPE)], metrics.render().encode())
            self.invoke(method, path, query)

        def invoke(self, method, path, query):
            started = perf_counter()
            code = 499
            with lock:
                rejected = metrics.in_flight >= max_inflight
                if not rejected:
                    metrics.in_flight += 1
            try:
                try:
                    body = self.read_body()
                except BadRequest as exc:
                    log.warn('%s %s: %s' % (method, path, exc))
                    self.close_connection = True
                    self.send_text(400)
                    code = 400
                    return
                except ClientGone:
                    self.close_connection = True
                    return
                if rejected:
                    self.send(429, [('Content-Type', json_type), ('X-Kss-Error', 'KSS_RATE_LIMITED'),
                                    ('Retry-After', '1')], overloaded)
                    code = 429
                    return
                event = Event(method, path, query, self.headers, body)
                try:
                    result = fn(event, context) if two_args else fn(event)
                    if hasattr(result, '__await__'):
                        result = run_awaitable(result)
                    status, headers, data = to_response(result)
                    # Encoding checks before anything is written, so a bad header is still a clean 500.
                    for name, value in headers:
                        name.encode('latin-1')
                        value.encode('latin-1')
                except InvalidJSON as exc:
                    log.warn('%s %s: %s (answered 400)' % (method, path, exc))
                    self.send_text(400)
                    code = 400
                    return
                except BaseException as exc:  # SystemExit from a handler is a failed request too
                    if exc.__traceback__ is not None and exc.__traceback__.tb_next is not None:
                        exc = exc.with_traceback(exc.__traceback__.tb_next)  # from the handler's frame on
                    log.error('handler failed on %s %s (answered 500)' % (method, path), exc)
                    self.send_text(500)
                    code = 500
                    return
                self.send(status, headers, data, head=method == 'HEAD')
                code = status
            finally:
                elapsed = perf_counter() - started
                with lock:
                    if not rejected:
                        metrics.in_flight -= 1
                    metrics.end(code, elapsed)

    class Server(socketserver.ThreadingTCPServer):
        """http.server's ThreadingHTTPServer without its import cost (see the module doc) or FQDN lookup at bind."""
        allow_reuse_address = True
        request_queue_size = 1024
        block_on_close = False
        daemon_threads = True

        def handle_error(self, request, client_address):
            log.error('unexpected error on a connection from %s' % (client_address[0],), sys.exc_info()[1])

    if ':' in config['host']:
        Server.address_family = socket.AF_INET6
    try:
        server = Server((config['host'], config['port']), RequestHandler)
    except OSError as exc:
        log.error('cannot listen on %s:%d: %s' % (config['host'], config['port'], exc))
        sys.stdout.flush()
        os._exit(EXIT_FAILURE)

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)

    signals = []

    def on_signal(signum, frame):
        # Only flags and a wake-up byte here: the main loop does the work (and the logging).
        name = 'SIGTERM' if signum == signal.SIGTERM else 'SIGINT'
        if state['stopping']:
            os.write(2, ('%swarn: %s during shutdown: exiting now with %d request(s) in flight\n'
                         % (log.prefix, name, metrics.in_flight)).encode())
            os._exit(state['exit_code'])
        signals.append(name)
        try:
            os.write(wake_w, b'x')
        except OSError:
            pass

    def begin_shutdown(reason):
        with lock:
            state['stopping'] = True
        log.info('%s: draining %d in-flight request(s), up to %d ms'
                 % (reason, metrics.in_flight, config['grace_ms']))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    sel = selectors.DefaultSelector()
    sel.register(server.socket, selectors.EVENT_READ, 'accept')
    sel.register(wake_r, selectors.EVENT_READ, 'wake')
    if config['parent_pipe']:
        try:
            sel.register(0, selectors.EVENT_READ, 'parent')
        except (OSError, ValueError):
            pass

    notify_ready()
    bound = server.server_address
    log.info('ready on http://%s:%d with %s in %d ms' % (config['host'], bound[1], os.path.relpath(
        handler.file, config['code_dir']), (perf_counter() - _T0) * 1000))

    while not state['stopping']:
        for key, _ in sel.select():
            if key.data == 'accept':
                server._handle_request_noblock()
            elif key.data == 'wake':
                os.read(wake_r, 512)
                if signals:
                    begin_shutdown(signals[0])
            elif key.data == 'parent':
                try:
                    data = os.read(0, 4096)
                except OSError:
                    data = b''
                if not data:
                    sel.unregister(0)
                    begin_shutdown('the platform went away')
                    break

    # Drain: stop accepting, close idle keep-alive connections, wait for the busy ones.
    server.socket.close()
    with lock:
        idle = [c for c in connections if not c.busy]
    for c in idle:
        try:
            c.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    from time import monotonic
    deadline = monotonic() + config['grace_ms'] / 1000
    with lock:
        while state['busy'] > 0:
            remaining = deadline - monotonic()
            if remaining <= 0:
                break
            drained.wait(remaining)
        left = state['busy']
    if left:
        log.warn('grace period of %d ms is over with %d request(s) in flight: exiting' % (config['grace_ms'], left))
    else:
        log.info('drained: exiting')
    _exit(state['exit_code'])


def notify_ready():
    """Tell the platform we listen without waiting for its next /ready probe: with
    ``KSS_READY_FD=N`` write ``ready\\n`` to that fd and close it (see the Node
    runtime's lifecycle.ts)."""
    raw = os.environ.pop('KSS_READY_FD', '')
    if raw.isdigit():
        try:
            os.write(int(raw), b'ready\n')
            os.close(int(raw))
        except OSError:
            pass


def _exit(code):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def parse_groups(raw):
    """``KSS_RUN_GROUPS``: gids separated by commas (the function's volumes), or empty."""
    if not raw:
        return []
    parts = raw.split(',')
    if not all(p.isdigit() and p.isascii() for p in parts):
        raise ValueError('KSS_RUN_GROUPS must be gids separated by commas, got %r' % raw)
    return [int(g) for g in parts]


def become_function(line):
    """In a sandboxed pool process (still root, holding only the capabilities to chown
    and switch ids): write the function's secrets, then drop to its uid and gid for
    good, before any of its code is loaded (kss_identity.py)."""
    import kss_identity
    kss_identity.write_secrets(line.get('secrets'))
    if line.get('runAs'):
        kss_identity.become(line['runAs'])


def await_specialisation():
    """Warm-pool mode (``KSS_POOL=1``): the interpreter and this module are loaded
    ahead; wait for one JSON line on stdin, ``{"env": {...}}`` (the function's code
    dir, handler and environment), apply it and carry on as a normal start. stdin
    stays open afterwards as the parent pipe."""
    import kss_identity  # noqa: F401  (now, while idle: become_function uses it on the request's path)
    buffered = b''
    while b'\n' not in buffered:
        chunk = os.read(0, 65536)
        if not chunk:  # the platform went away before using this process
            _exit(0)
        buffered += chunk
    import json
    line = json.loads(buffered.split(b'\n', 1)[0])
    env = line['env']
    try:
        become_function(line)
    except Exception as exc:  # never load a function's code with the pool's privileges
        sys.stderr.write("[kss-runtime] error: cannot take on the function's identity: %s\n" % exc)
        _exit(EXIT_FAILURE)
    os.environ.update(env)
    os.environ.pop('KSS_POOL', None)
    if env.get('KSS_CODE_DIR'):
        os.chdir(env['KSS_CODE_DIR'])


def limit_open_files():
    """`KSS_NOFILE=N` (a fresh replica in the sandbox): lower RLIMIT_NOFILE, soft and hard,
    to N before any of the function's code loads. Lowering needs no privilege, so the
    sandbox saves exec'ing `prlimit` (~1 ms per cold start measured on 2 cores)."""
    raw = os.environ.pop('KSS_NOFILE', '')
    if not raw:
        return
    try:
        import resource
        n = int(raw)
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    except Exception as exc:
        sys.stderr.write('[kss-runtime] error: cannot set the open-files limit to %s: %s\n' % (raw, exc))
        _exit(EXIT_FAILURE)


def main():
    limit_open_files()
    if os.environ.get('KSS_POOL') == '1':
        await_specialisation()
    else:
        run_as = os.environ.pop('KSS_RUN_AS', '')
        groups = os.environ.pop('KSS_RUN_GROUPS', '')
        if run_as:
            # A fresh replica in the sandbox starts as root holding only the capabilities to
            # switch ids: drop to the function's uid before its code is loaded.
            try:
                uid, gid = (int(x) for x in run_as.split(':'))
                become_function({'runAs': {'uid': uid, 'gid': gid, 'groups': parse_groups(groups)}})
            except Exception as exc:
                sys.stderr.write("[kss-runtime] error: cannot take on the function's identity: %s\n" % exc)
                _exit(EXIT_FAILURE)
    # The runtime's own folder must not shadow the function's modules (a user "server.py").
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if not p or os.path.abspath(p) != here]
    try:
        config = read_config(os.environ)
    except ConfigError as exc:
        sys.stderr.write('[kss-runtime] error: invalid environment: %s\n' % exc)
        _exit(EXIT_BAD_CONFIG)
    log = Log(config['function_name'])
    add_site_paths(config['site'])
    try:
        handler = load_handler(config['code_dir'], config['handler'])
    except HandlerLoadError as exc:
        log.error('cannot load the handler: %s' % exc)
        _exit(EXIT_HANDLER_LOAD)
    serve(config, handler, log)

