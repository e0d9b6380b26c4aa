"""The ``iris-predict`` function: ``POST {"features": [5.1, 3.5, 1.4, 0.2]}`` (or
``{"instances": [[...], ...]}``) → the class, its probabilities and the model
version; ``GET`` describes the model. It reads the model ``iris-train`` stored in
the shared volume (mounted read-only here) and notices a new one on the next call.

    curl -H "Authorization: Bearer $TOKEN" -d '{"features":[5.1,3.5,1.4,0.2]}' \\
        http://127.0.0.1:8080/function/iris-predict

Every path of the function does the same; see ``api.predict`` for the details.
"""
import api


def handle(event, context):
    return api.predict(event, context)
