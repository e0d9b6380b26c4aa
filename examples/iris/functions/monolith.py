"""The ``iris-monolith`` function: the same code as ``iris-train`` and
``iris-predict`` in one process, routed by path, for the comparison in
``bench/iris-compare.bench.ts``:

- ``POST /train`` — as iris-train;
- ``POST /predict``, ``GET /predict`` — as iris-predict;
- ``GET /`` — lists these routes.

Its models live in a volume of its own, ``iris-monolith-models`` (``MODEL_VOLUME``
in stack.yml), so the two variants never read each other's model.
"""
import api

ROUTES = {
    '/train': api.train,
    '/predict': api.predict,
}


def handle(event, context):
    path = event.path.rstrip('/') or '/'
    route = ROUTES.get(path)
    if route is not None:
        return route(event, context)
    if path == '/':
        if event.method != 'GET':
            return api.method_not_allowed(event, ['GET'])
        return api.reply({'routes': {'POST /train': 'train on a CSV body', 'POST /predict': 'predict',
                                     'GET /predict': 'describe the current model'}})
    return api.error(404, 'IRIS_NOT_FOUND', 'no route %s; use POST /train, POST /predict or GET /predict' % path[:100])
