"""The Python runtime of Kube-Serverless: the process inside every replica of a
Python function. Standard library only. Started by the local provider as

    python3 -S runtimes/python/server.py

Environment:
- ``PORT`` (required), ``HOST`` (default ``0.0.0.0``);
- ``KSS_CODE_DIR`` (default the working directory) and ``KSS_HANDLER`` (the
  handler file, or a folder holding ``handler.py``, relative to it; default
  ``handler.py``);
- ``KSS_FUNCTION_NAME``, ``KSS_FUNCTION_NAMESPACE``, ``KSS_INSTANCE`` (given to
  the handler's ``context`` and used in log lines);
- ``KSS_GRACE_MS`` (default 10000): longest drain after SIGTERM;
- ``KSS_MAX_INFLIGHT`` (default 100): handler calls at once; more get a 429;
- ``KSS_PARENT_PIPE=1``: exit when stdin reaches end-of-file (the platform died);
- ``KSS_PYTHON_SITE``: under ``-S``, ``paths`` (default) puts the interpreter's
  site-packages folders (and the folders their ``.pth`` files list) on sys.path
  without running ``.pth`` import lines; ``full`` runs ``site.main()``; ``none``
  adds nothing.

``GET /health``, ``GET /ready`` (503 once shutting down) and ``GET /metrics``
(Prometheus text) are the runtime's own; every other request goes to
``handle(event, context)`` in the handler file (``handle(event)`` and
``async def handle`` work too), in a thread of its own:

- ``event``: ``.method``, ``.path`` (as received, without the query),
  ``.query`` (name → first value), ``.query_string``, ``.headers`` (a dict with
  lower-case names whose lookups ignore case), ``.body`` (bytes), ``.text``
  (UTF-8, invalid bytes replaced) and ``.json()`` (None for an empty body; a body
  that is not JSON raises a ValueError that, if not caught, is answered 400);
- ``context``: ``.function_name``, ``.namespace``, ``.instance``, ``.log(*args)``;
- the return value: str (text/plain), bytes (application/octet-stream), dict,
  list or number (JSON), None (204), ``(body, status)``, ``(body, status,
  headers)`` with headers a dict or a list of pairs, or the OpenFaaS
  python3-http form ``{"statusCode": ..., "body": ..., "headers": {...}}``.
  An exception is a 500 ``Internal Server Error``; its traceback goes to stderr.

Exit codes: 0 after a drain (SIGTERM/SIGINT, or stdin closed), 1 when the port
cannot be bound, 2 for an invalid environment, 3 when the handler cannot be
loaded.

Start-up is a cold start the caller waits for: only what serving needs is
imported before the port is bound; json, traceback and asyncio load on first use,
and the implementation lives in ``kss_runtime.py`` so that its bytecode can be
cached (this script itself is compiled on every start, so it stays tiny).
The server is http.server's ThreadingHTTPServer design (socketserver's
ThreadingTCPServer, a thread per keep-alive HTTP/1.1 connection) with the request
line and headers parsed here: importing http.server pulls in http.client, email,
ssl and html, which doubled the process start → ready time and CPU (measured
≈70 ms → ≈30 ms of CPU), and its email-based header parser is both slow and
lenient (a header line without a colon is accepted).
"""
import sys

_here = __file__.rpartition('/')[0] or '.'
if _here not in sys.path[:1]:  # e.g. under PYTHONSAFEPATH=1, the script's folder is not on sys.path
    sys.path.insert(0, _here)

from kss_runtime import main  # noqa: E402  (this folder is on sys.path until main() takes it off)

main()
