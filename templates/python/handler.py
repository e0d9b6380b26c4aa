"""{{name}}: a Kube-Serverless function.

The platform calls handle() for every request to /function/{{name}}[/path].
`event` has .method, .path, .query (dict), .headers (case-insensitive), .body
(bytes), .text (str) and .json(); `context` has .function_name and .log().

Return a str, bytes, a dict or list (sent as JSON), None (204), or a tuple
(body, status) / (body, status, headers). An exception is answered with a 500;
its traceback goes to the function's log, never to the caller.
"""


def handle(event, context):
    return f"Hello, {event.text or 'world'}!\n"
