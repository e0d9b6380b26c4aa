"""The machine learning of the Iris example, in pure Python (standard library only):
reading the data, a deterministic held-out split, a Gaussian naive Bayes classifier,
and its evaluation. Nothing here does I/O or knows about HTTP; ``model_store.py``
keeps models on disk and ``api.py`` answers requests.

Why Gaussian naive Bayes: it is exact (no iterations, no learning rate, no random
start), so training the same rows always gives the same model, bit for bit, on any
machine; it trains in one pass and predicts in a few dozen floating-point operations;
and it gives calibrated-enough class probabilities. On Fisher's Iris data it reaches
about 95% accuracy averaged over random splits, as scikit-learn's ``GaussianNB`` does
(whose estimates — class frequencies as priors, population variances — and variance
smoothing this follows).
"""
import csv
import hashlib
import io
import json
import math
import random

#: The four measurements, in centimetres, in the order a feature vector lists them.
FEATURES = ('sepal_length', 'sepal_width', 'petal_length', 'petal_width')
#: Header names accepted for the class column (after normalisation, see :func:`column_key`).
LABEL_COLUMNS = ('species', 'class', 'variety', 'label', 'target')
#: A measurement outside this range (cm) is refused: it is a typo or a unit mix-up, and
#: squaring it could overflow the likelihoods.
MIN_MEASUREMENT = 0.0
MAX_MEASUREMENT = 1000.0
#: Refuse data sets larger than this many rows (the whole CSV is held in memory).
MAX_ROWS = 100_000
#: Share of each class held out for evaluation, and the seed of the shuffle that picks it.
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_SEED = 42
#: As scikit-learn's ``var_smoothing``: this share of the largest feature variance is
#: added to every variance, so a feature that is constant within a class does not divide by 0.
VAR_SMOOTHING = 1e-9
#: Written into every model file; a file with another format is refused when loaded.
MODEL_FORMAT = 'kss-iris-gaussian-nb/1'


class DataError(ValueError):
    """Input that cannot be used (a malformed CSV, a bad feature vector). Its message is
    written for the caller: it names the line, the column or the field."""


# --------------------------------------------------------------------------- data

def column_key(name):
    """Normalises a header cell so the usual spellings match: ``Sepal.Length`` (R),
    ``sepal length (cm)`` (scikit-learn), ``SepalLengthCm`` stays distinct (no match)."""
    key = name.strip().lower().replace('(cm)', '')
    key = ''.join(c if c.isalnum() else '_' for c in key)
    while '__' in key:
        key = key.replace('__', '_')
    return key.strip('_')


def normalise_label(label):
    """``Iris-setosa`` (the UCI file's spelling) and `` Setosa `` both become ``setosa``."""
    label = label.strip()
    if label.lower().startswith('iris-'):
        label = label[5:]
    return label.lower()


def check_measurement(value, where):
    """Returns ``value`` as a float if it is a usable measurement; raises DataError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError('%s: expected a number, got %s' % (where, describe(value)))
    value = float(value)
    if not math.isfinite(value):
        raise DataError('%s: %r is not a finite number' % (where, value))
    if not MIN_MEASUREMENT <= value <= MAX_MEASUREMENT:
        raise DataError('%s: %g is outside %g..%g (centimetres)' % (where, value, MIN_MEASUREMENT, MAX_MEASUREMENT))
    return value


def describe(value):
    """A short JSON-ish rendering of a value for error messages (at most 40 characters)."""
    if value is None:
        return 'null'
    text = json.dumps(value) if isinstance(value, (str, bool, list, dict)) else repr(value)
    return text if len(text) <= 40 else text[:37] + '...'


def load_csv(text):
    """Parses Iris data: four measurement columns and a class column.

    With a header row (``sepal_length,sepal_width,petal_length,petal_width,species``;
    R's and scikit-learn's spellings work too, in any column order), columns are found
    by name. Without one (the UCI ``iris.data`` file), the first four columns are the
    measurements in :data:`FEATURES` order and the fifth is the class. Blank lines are
    skipped; class names go through :func:`normalise_label`.

    Returns ``(X, y)``: a list of 4-tuples of floats and a list of class names.
    Raises :class:`DataError` with the line number for anything else.
    """
    if text.startswith('\ufeff'):
        text = text[1:]
    rows = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), start=1)
            if row and any(cell.strip() for cell in row)]
    if not rows:
        raise DataError('the CSV has no rows: send the training data, e.g. --data-binary @data/iris.csv')
    if len(rows) > MAX_ROWS + 1:
        raise DataError('the CSV has more than %d rows' % MAX_ROWS)

    first_line, first = rows[0]
    if _looks_numeric(first[0]):
        feature_at, label_at, width, body = (0, 1, 2, 3), 4, 5, rows
    else:
        keys = [column_key(cell) for cell in first]
        missing = [f for f in FEATURES if f not in keys]
        if missing:
            raise DataError('line %d: the header has no column %s (expected %s and a class column such as species)'
                            % (first_line, ', '.join(missing), ', '.join(FEATURES)))
        label_names = [k for k in keys if k in LABEL_COLUMNS]
        if not label_names:
            raise DataError('line %d: the header has no class column (one of %s)' % (first_line, ', '.join(LABEL_COLUMNS)))
        duplicated = sorted({k for k in keys if k and keys.count(k) > 1})
        if duplicated:
            raise DataError('line %d: the header names %s more than once' % (first_line, ', '.join(duplicated)))
        feature_at = tuple(keys.index(f) for f in FEATURES)
        label_at, width, body = keys.index(label_names[0]), len(first), rows[1:]

    X, y = [], []
    for line, row in body:
        if len(row) != width:
            raise DataError('line %d: expected %d columns, found %d' % (line, width, len(row)))
        vector = []
        for feature, at in zip(FEATURES, feature_at):
            cell = row[at].strip()
            try:
                number = float(cell)
            except ValueError:
                raise DataError('line %d, %s: %s is not a number' % (line, feature, describe(cell))) from None
            vector.append(check_measurement(number, 'line %d, %s' % (line, feature)))
        label = normalise_label(row[label_at])
        if not label:
            raise DataError('line %d: the class is empty' % line)
        X.append(tuple(vector))
        y.append(label)
    if not X:
        raise DataError('the CSV has a header but no data rows')
    return X, y


def _looks_numeric(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def stratified_split(y, test_fraction=DEFAULT_TEST_FRACTION, seed=DEFAULT_SEED):
    """Picks the held-out rows: within each class, the rows are shuffled by a
    ``random.Random(seed)`` of their own and the first ``round(n * test_fraction)``
    (at least 1, at most n - 1) are held out, so every class is in both parts in
    proportion. The same labels, fraction and seed always give the same split.

    Returns ``(train_indices, test_indices)``, each sorted.
    Raises :class:`DataError` when a class has fewer than 2 rows or there is one class.
    """
    if not 0 < test_fraction < 1:
        raise ValueError('test_fraction must be between 0 and 1')
    by_class = {}
    for i, label in enumerate(y):
        by_class.setdefault(label, []).append(i)
    if len(by_class) < 2:
        raise DataError('the data has %d class%s; a classifier needs at least 2'
                        % (len(by_class), '' if len(by_class) == 1 else 'es'))
    train, test = [], []
    for label in sorted(by_class):
        indices = by_class[label]
        if len(indices) < 2:
            raise DataError('class %s has %d row; each class needs at least 2 (one to train on, one to test)'
                            % (describe(label), len(indices)))
        shuffled = list(indices)
        # One generator per class, seeded with the class name too: adding a class does not move the others' split.
        random.Random('%s/%s' % (seed, label)).shuffle(shuffled)
        held = min(len(shuffled) - 1, max(1, round(len(shuffled) * test_fraction)))
        test.extend(shuffled[:held])
        train.extend(shuffled[held:])
    return sorted(train), sorted(test)


# --------------------------------------------------------------------------- model

class GaussianNB:
    """Gaussian naive Bayes: each class's measurements are modelled as independent
    normal distributions (a mean and a variance per feature), weighted by the class's
    share of the training rows. ``predict_proba`` applies Bayes' rule in log space."""

    def __init__(self, classes, priors, means, variances, features=FEATURES):
        self.classes = list(classes)
        self.priors = list(priors)
        self.means = [list(m) for m in means]
        self.variances = [list(v) for v in variances]
        self.features = tuple(features)
        # Per class: log prior - 0.5 * sum(log(2 pi var)), the part of the log likelihood that does not depend on x.
        self._offsets = [math.log(p) - 0.5 * sum(math.log(2 * math.pi * v) for v in vs)
                         for p, vs in zip(self.priors, self.variances)]

    @classmethod
    def fit(cls, X, y):
        """Estimates priors, means and (population) variances from rows ``X`` with classes ``y``."""
        if not X or len(X) != len(y):
            raise ValueError('fit needs as many labels as rows, and at least one row')
        width = len(X[0])
        classes = sorted(set(y))
        largest_variance = max(_variance([row[j] for row in X]) for j in range(width))
        epsilon = VAR_SMOOTHING * largest_variance
        priors, means, variances = [], [], []
        for label in classes:
            rows = [row for row, c in zip(X, y) if c == label]
            priors.append(len(rows) / len(X))
            columns = [[row[j] for row in rows] for j in range(width)]
            means.append([math.fsum(col) / len(col) for col in columns])
            variances.append([_variance(col) + epsilon for col in columns])
        return cls(classes, priors, means, variances)

    def log_likelihoods(self, x):
        """The joint log likelihood of ``x`` for each class (unnormalised log posteriors)."""
        return [offset - 0.5 * math.fsum((xj - mj) ** 2 / vj for xj, mj, vj in zip(x, means, variances))
                for offset, means, variances in zip(self._offsets, self.means, self.variances)]

    def predict_proba(self, x):
        """``{class: probability}`` for one feature vector (the probabilities sum to 1)."""
        scores = self.log_likelihoods(x)
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]  # log-sum-exp: no underflow for far-away classes
        total = math.fsum(weights)
        return {label: w / total for label, w in zip(self.classes, weights)}

    def predict(self, x):
        """The most probable class of one feature vector (ties go to the first class in sorted order)."""
        scores = self.log_likelihoods(x)
        return self.classes[max(range(len(scores)), key=scores.__getitem__)]

    def parameters(self):
        """The model's parameters as plain JSON values (what :meth:`from_parameters` reads)."""
        return {'features': list(self.features), 'classes': self.classes, 'priors': self.priors,
                'means': self.means, 'variances': self.variances}

    @classmethod
    def from_parameters(cls, p):
        """Rebuilds a model from :meth:`parameters`; raises ValueError when the shapes or values are wrong."""
        try:
            features, classes = list(p['features']), list(p['classes'])
            priors, means, variances = p['priors'], p['means'], p['variances']
        except (KeyError, TypeError) as exc:
            raise ValueError('model parameters are incomplete: %s' % exc) from None
        n, width = len(classes), len(features)
        if n < 2 or len(priors) != n or len(means) != n or len(variances) != n:
            raise ValueError('model parameters: classes, priors, means and variances differ in length')
        numbers = [priors] + means + variances
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) for row in numbers
               for v in row):
            raise ValueError('model parameters hold a value that is not a finite number')
        if any(len(row) != width for row in means + variances):
            raise ValueError('model parameters: every mean and variance row needs %d values' % width)
        if any(p <= 0 for p in priors) or any(v <= 0 for row in variances for v in row):
            raise ValueError('model parameters: priors and variances must be positive')
        return cls(classes, priors, means, variances, features)


def _variance(values):
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values) / len(values)


def evaluate(model, X, y):
    """Accuracy and confusion matrix (``{actual: {predicted: count}}``) of ``model`` on rows ``X``."""
    confusion = {actual: {predicted: 0 for predicted in model.classes} for actual in sorted(set(y) | set(model.classes))}
    correct = 0
    for row, actual in zip(X, y):
        predicted = model.predict(row)
        confusion[actual][predicted] = confusion[actual].get(predicted, 0) + 1
        correct += predicted == actual
    return {'accuracy': correct / len(X) if X else 0.0, 'correct': correct, 'total': len(X), 'confusion': confusion}


def model_version(parameters):
    """A content address for a model: ``gnb-`` and 12 hex digits of the SHA-256 of its
    parameters. Training the same rows gives the same version, anywhere."""
    canonical = json.dumps(parameters, sort_keys=True, separators=(',', ':'))
    return 'gnb-' + hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:12]


def train(X, y, test_fraction=DEFAULT_TEST_FRACTION, seed=DEFAULT_SEED):
    """Splits, fits on the training part, evaluates on the held-out part.

    Returns ``(model, report)``; the report holds the version, the split and the
    evaluation, ready to be stored beside the parameters (see ``model_store.py``).
    """
    train_rows, test_rows = stratified_split(y, test_fraction, seed)
    model = GaussianNB.fit([X[i] for i in train_rows], [y[i] for i in train_rows])
    evaluation = evaluate(model, [X[i] for i in test_rows], [y[i] for i in test_rows])
    report = {
        'version': model_version(model.parameters()),
        'algorithm': 'gaussian-naive-bayes',
        'split': {'method': 'stratified', 'testFraction': test_fraction, 'seed': seed,
                  'trainRows': len(train_rows), 'testRows': len(test_rows)},
        'accuracy': evaluation['accuracy'],
        'correct': evaluation['correct'],
        'confusion': evaluation['confusion'],
    }
    return model, report
