"""The HTTP side of the Iris example: what ``train``, ``predict`` and ``monolith``
answer. Each handler takes the Python runtime's ``(event, context)`` and returns
``(body, status, headers)``; a dict body is sent as JSON.

Every answer is JSON. Errors are ``{"code": ..., "message": ...}`` with a status:

==================  ======  ===================================================
code                status  when
==================  ======  ===================================================
IRIS_BAD_INPUT      400     the body or the query cannot be used (the message says why)
IRIS_NOT_FOUND      404     a path the monolith does not serve
IRIS_METHOD         405     a method the route does not take (``Allow`` lists the right ones)
IRIS_LOW_ACCURACY   422     the new model scored below ``MIN_ACCURACY``; it was not stored
IRIS_NO_MODEL       503     nothing has been trained yet: POST the data to train first
IRIS_BAD_MODEL      500     the stored model file cannot be read
IRIS_NO_VOLUME      500     the function was deployed without its ``kss.volume``
IRIS_BAD_CONFIG     500     ``MIN_ACCURACY`` is set to something that is not a number from 0 to 1
==================  ======  ===================================================

The platform's own errors (no token: 401, and so on) come from the gateway, with an
``X-Kss-Error`` header; these come from the function and never carry it.
"""
import json
import os
import re
import time

import iris_ml
import model_store
from iris_ml import FEATURES, DataError

#: Most feature vectors one predict request may carry.
MAX_BATCH = 1000
#: Probabilities are rounded to this many decimals in answers.
PROBABILITY_DECIMALS = 6

_cache = model_store.ModelCache()


# --------------------------------------------------------------------------- responses

def reply(body, status=200, headers=None):
    """A JSON answer in the runtime's ``(body, status, headers)`` form."""
    return body, status, dict(headers or {})


def error(status, code, message, headers=None):
    """A JSON error answer, ``{"code", "message"}``."""
    return reply({'code': code, 'message': message}, status, headers)


def method_not_allowed(event, allowed):
    return error(405, 'IRIS_METHOD', '%s is not supported here; use %s' % (event.method, ' or '.join(allowed)),
                 {'Allow': ', '.join(allowed)})


def _store_error(exc):
    """Maps the model store's exceptions onto answers."""
    if isinstance(exc, model_store.NoModel):
        return error(503, 'IRIS_NO_MODEL', 'no model has been trained yet: POST the training data (CSV) to the'
                     ' train function first, e.g. curl --data-binary @data/iris.csv .../function/iris-train')
    if isinstance(exc, model_store.BadModel):
        return error(500, 'IRIS_BAD_MODEL', 'the stored model cannot be used: %s; train again' % exc)
    return error(500, 'IRIS_NO_VOLUME', str(exc))


# --------------------------------------------------------------------------- train

def train(event, context):
    """``POST`` a CSV (see ``iris_ml.load_csv``) → trains, evaluates on the held-out
    rows and stores the model. Query: ``seed`` (integer, default 42) and
    ``test_fraction`` (0.05-0.5, default 0.2) choose the split.

    With ``MIN_ACCURACY`` in the environment (e.g. ``0.9``), a model scoring below it is
    answered 422 and not stored, so predict keeps serving the previous one.
    """
    if event.method != 'POST':
        return method_not_allowed(event, ['POST'])
    try:
        minimum = _min_accuracy()
    except ValueError as exc:
        return error(500, 'IRIS_BAD_CONFIG', str(exc))
    try:
        seed, test_fraction = _split_options(event.query)
        text = _body_text(event.body)
        if not text.strip():
            raise DataError('the body is empty: send the training data as CSV, e.g. curl --data-binary @data/iris.csv')
        X, y = iris_ml.load_csv(text)
        directory = model_store.model_dir()
        started = time.perf_counter()
        model, report = iris_ml.train(X, y, test_fraction=test_fraction, seed=seed)
        seconds = time.perf_counter() - started
    except DataError as exc:
        return error(400, 'IRIS_BAD_INPUT', str(exc))
    except model_store.StoreUnavailable as exc:
        return _store_error(exc)

    answer = {'model': report['version'], 'accuracy': report['accuracy'], 'correct': report['correct'],
              'split': report['split'], 'classes': model.classes, 'confusion': report['confusion'],
              'trainSeconds': round(seconds, 6)}
    if minimum is not None and report['accuracy'] < minimum:
        answer.update(code='IRIS_LOW_ACCURACY', message='accuracy %.1f%% on the held-out rows is below MIN_ACCURACY'
                      ' (%.1f%%); the model was not stored' % (100 * report['accuracy'], 100 * minimum))
        context.log('model %s not stored: accuracy %.4f < MIN_ACCURACY %.4f' % (report['version'], report['accuracy'], minimum))
        return reply(answer, 422)
    try:
        model_store.save(directory, model, report)
    except model_store.StoreUnavailable as exc:
        return _store_error(exc)
    context.log('trained %s on %d rows: accuracy %.4f on %d held-out rows'
                % (report['version'], report['split']['trainRows'], report['accuracy'], report['split']['testRows']))
    return reply(answer)


def _split_options(query):
    seed = iris_ml.DEFAULT_SEED
    test_fraction = iris_ml.DEFAULT_TEST_FRACTION
    unknown = sorted(set(query) - {'seed', 'test_fraction'})
    if unknown:
        raise DataError('unknown query parameter %s (train takes seed and test_fraction)' % ', '.join(unknown))
    if 'seed' in query:
        raw = query['seed'].strip()
        if not re.fullmatch(r'-?[0-9]{1,18}', raw):
            raise DataError('seed: %s is not an integer' % json.dumps(query['seed'][:40]))
        seed = int(raw)
    if 'test_fraction' in query:
        try:
            test_fraction = float(query['test_fraction'])
        except ValueError:
            test_fraction = float('nan')
        if not 0.05 <= test_fraction <= 0.5:
            raise DataError('test_fraction: %s is not a number from 0.05 to 0.5' % json.dumps(query['test_fraction'][:40]))
    return seed, test_fraction


def _min_accuracy():
    raw = os.environ.get('MIN_ACCURACY', '').strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float('nan')
    if not 0 <= value <= 1:
        raise ValueError('MIN_ACCURACY must be a number from 0 to 1, got %r' % raw)
    return value


def _body_text(body):
    try:
        return body.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise DataError('the body is not UTF-8 text (byte %d)' % exc.start) from None


# --------------------------------------------------------------------------- predict

def predict(event, context):
    """``POST {"features": [5.1, 3.5, 1.4, 0.2]}`` → ``{"class", "probabilities", "model"}``;
    ``POST {"instances": [[...], ...]}`` (up to :data:`MAX_BATCH`) →
    ``{"predictions": [{"class", "probabilities"}, ...], "model"}``. A feature vector is
    4 numbers in :data:`iris_ml.FEATURES` order, or an object with those 4 names.
    ``GET`` describes the current model.
    """
    if event.method == 'GET':
        return model_info(event, context)
    if event.method != 'POST':
        return method_not_allowed(event, ['POST', 'GET'])
    try:
        vectors, batch = parse_prediction_request(event.body)
    except DataError as exc:
        return error(400, 'IRIS_BAD_INPUT', str(exc))
    try:
        directory = model_store.model_dir()
        model, document = _cache.get(directory)
    except (model_store.StoreUnavailable, model_store.NoModel, model_store.BadModel) as exc:
        return _store_error(exc)
    results = [_prediction(model, v) for v in vectors]
    if batch:
        return reply({'predictions': results, 'model': document['version']})
    return reply({'class': results[0]['class'], 'probabilities': results[0]['probabilities'], 'model': document['version']})


def model_info(event, context):
    """The current model's version, when it was trained and how it scored."""
    try:
        model, document = _cache.get(model_store.model_dir())
    except (model_store.StoreUnavailable, model_store.NoModel, model_store.BadModel) as exc:
        return _store_error(exc)
    report = document.get('report', {})
    return reply({'model': document['version'], 'trainedAt': document.get('trainedAt'), 'algorithm': report.get('algorithm'),
                  'accuracy': report.get('accuracy'), 'split': report.get('split'), 'classes': model.classes,
                  'features': list(model.features)})


def _prediction(model, vector):
    probabilities = model.predict_proba(vector)
    best = max(model.classes, key=lambda c: probabilities[c])  # classes are sorted: ties go to the first
    return {'class': best, 'probabilities': {c: round(p, PROBABILITY_DECIMALS) for c, p in probabilities.items()}}


def parse_prediction_request(body):
    """Reads a predict body: ``([vector, ...], is_batch)``; raises DataError naming the field."""
    if not body.strip():
        raise DataError('the body is empty: send JSON such as {"features": [5.1, 3.5, 1.4, 0.2]}')
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise DataError('the body is not valid JSON: %s' % exc) from None
    if not isinstance(document, dict):
        raise DataError('expected a JSON object such as {"features": [5.1, 3.5, 1.4, 0.2]} or {"instances": [[...], ...]}')
    fields = set(document)
    if fields == {'features'}:
        return [feature_vector(document['features'], 'features')], False
    if fields == {'instances'}:
        instances = document['instances']
        if not isinstance(instances, list) or not instances:
            raise DataError('instances: expected a non-empty list of feature vectors')
        if len(instances) > MAX_BATCH:
            raise DataError('instances: %d vectors; at most %d per request' % (len(instances), MAX_BATCH))
        return [feature_vector(v, 'instances[%d]' % i) for i, v in enumerate(instances)], True
    if {'features', 'instances'} <= fields:
        raise DataError('send either "features" (one vector) or "instances" (a batch), not both')
    extra = sorted(fields - {'features', 'instances'})
    if extra:
        raise DataError('unknown field %s; expected "features" (one vector) or "instances" (a batch)'
                        % ', '.join(json.dumps(f) for f in extra[:5]))
    raise DataError('expected "features" (one vector) or "instances" (a batch)')


def feature_vector(value, where):
    """One feature vector: 4 numbers in FEATURES order, or an object with the 4 names."""
    if isinstance(value, dict):
        missing = [f for f in FEATURES if f not in value]
        extra = sorted(set(value) - set(FEATURES))
        if missing or extra:
            problems = (['missing %s' % ', '.join(missing)] if missing else []) + \
                       (['unknown %s' % ', '.join(json.dumps(k) for k in extra[:5])] if extra else [])
            raise DataError('%s: %s (expected %s)' % (where, '; '.join(problems), ', '.join(FEATURES)))
        return tuple(iris_ml.check_measurement(value[f], '%s.%s' % (where, f)) for f in FEATURES)
    if not isinstance(value, list) or len(value) != len(FEATURES):
        got = 'a list of %d' % len(value) if isinstance(value, list) else iris_ml.describe(value)
        raise DataError('%s: expected %d numbers (%s) or an object with those names, got %s'
                        % (where, len(FEATURES), ', '.join(FEATURES), got))
    return tuple(iris_ml.check_measurement(v, '%s[%d]' % (where, i)) for i, v in enumerate(value))
