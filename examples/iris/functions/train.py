"""The ``iris-train`` function: ``POST`` the training data as CSV, get the held-out
accuracy back; the model is stored in the shared volume for ``iris-predict``.

    curl -H "Authorization: Bearer $TOKEN" --data-binary @data/iris.csv \\
        http://127.0.0.1:8080/function/iris-train

Every path of the function does the same; see ``api.train`` for the options.
"""
import api


def handle(event, context):
    return api.train(event, context)
