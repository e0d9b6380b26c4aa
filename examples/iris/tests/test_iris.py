"""Unit tests of the Iris example's Python code (standard library unittest):
the CSV loader, the split, the classifier, the model store and the handlers'
answers, without a platform. Run from the repository root with

    python3 -m unittest discover -s examples/iris/tests

(``npm test`` runs them through test/example-iris.test.ts).
"""
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(EXAMPLE, 'functions'))
# No __pycache__ in functions/: that folder is what `kss deploy` packages.
sys.dont_write_bytecode = True

import api  # noqa: E402
import iris_ml  # noqa: E402
import model_store  # noqa: E402
import monolith  # noqa: E402
from iris_ml import DataError  # noqa: E402

with open(os.path.join(EXAMPLE, 'data', 'iris.csv'), encoding='utf-8') as _f:
    IRIS_CSV = _f.read()


class Event:
    """What the Python runtime hands a handler, reduced to what the handlers read."""

    def __init__(self, method='POST', path='/', body=b'', query=None):
        self.method = method
        self.path = path
        self.body = body if isinstance(body, bytes) else body.encode('utf-8')
        self.query = query or {}


class Context:
    def __init__(self):
        self.lines = []

    def log(self, *args):
        self.lines.append(' '.join(str(a) for a in args))


class CsvLoaderTest(unittest.TestCase):
    def test_the_bundled_data_is_fishers_150_rows_50_per_class(self):
        X, y = iris_ml.load_csv(IRIS_CSV)
        self.assertEqual(len(X), 150)
        self.assertEqual({c: y.count(c) for c in set(y)}, {'setosa': 50, 'versicolor': 50, 'virginica': 50})
        self.assertEqual((X[0], y[0]), ((5.1, 3.5, 1.4, 0.2), 'setosa'))
        self.assertEqual((X[50], y[50]), ((7.0, 3.2, 4.7, 1.4), 'versicolor'))
        self.assertEqual((X[100], y[100]), ((6.3, 3.3, 6.0, 2.5), 'virginica'))
        self.assertEqual((X[149], y[149]), ((5.9, 3.0, 5.1, 1.8), 'virginica'))
        # Fisher's values (R's `iris`), not the UCI file's two misprints in rows 35 and 38.
        self.assertEqual(X[34], (4.9, 3.1, 1.5, 0.2))
        self.assertEqual(X[37], (4.9, 3.6, 1.4, 0.1))
        # Column sums and class means of the published data.
        sums = [round(math.fsum(row[j] for row in X), 1) for j in range(4)]
        self.assertEqual(sums, [876.5, 458.6, 563.7, 179.9])
        setosa = [row for row, c in zip(X, y) if c == 'setosa']
        self.assertEqual([round(math.fsum(r[j] for r in setosa) / 50, 3) for j in range(4)], [5.006, 3.428, 1.462, 0.246])

    def test_headerless_uci_file_and_its_class_names(self):
        X, y = iris_ml.load_csv('5.1,3.5,1.4,0.2,Iris-setosa\n\n7.0,3.2,4.7,1.4,Iris-versicolor\n')
        self.assertEqual(X, [(5.1, 3.5, 1.4, 0.2), (7.0, 3.2, 4.7, 1.4)])
        self.assertEqual(y, ['setosa', 'versicolor'])

    def test_header_spellings_and_column_order(self):
        r = 'Species,Sepal.Length,Sepal.Width,Petal.Length,Petal.Width\nsetosa,5.1,3.5,1.4,0.2\n'
        self.assertEqual(iris_ml.load_csv(r), ([(5.1, 3.5, 1.4, 0.2)], ['setosa']))
        sk = '\ufeffsepal length (cm),sepal width (cm),petal length (cm),petal width (cm),target\r\n5,3,1,0.5, Setosa \r\n'
        self.assertEqual(iris_ml.load_csv(sk), ([(5.0, 3.0, 1.0, 0.5)], ['setosa']))

    def test_errors_name_the_line_and_the_column(self):
        header = 'sepal_length,sepal_width,petal_length,petal_width,species\n'
        cases = {
            '': 'no rows',
            ' \n\n': 'no rows',
            header: 'no data rows',
            header + '5.1,3.5,1.4,0.2,setosa\n5.1,3.5,1.4,setosa\n': 'line 3: expected 5 columns, found 4',
            header + '5.1,abc,1.4,0.2,setosa\n': 'line 2, sepal_width: "abc" is not a number',
            header + '5.1,3.5,-1.4,0.2,setosa\n': 'line 2, petal_length: -1.4 is outside 0..1000',
            header + '5.1,3.5,nan,0.2,setosa\n': 'line 2, petal_length: nan is not a finite number',
            header + '5.1,3.5,1.4,0.2, \n': 'line 2: the class is empty',
            'sepal_length,sepal_width,petal_length,species\n1,2,3,x\n': 'line 1: the header has no column petal_width',
            'sepal_length,sepal_width,petal_length,petal_width,colour\n': 'no class column',
            'sepal_length,sepal_width,petal_length,petal_width,species,species\n': 'names species more than once',
        }
        for text, message in cases.items():
            with self.subTest(text=text):
                with self.assertRaises(DataError) as caught:
                    iris_ml.load_csv(text)
                self.assertIn(message, str(caught.exception))


class SplitTest(unittest.TestCase):
    def setUp(self):
        self.X, self.y = iris_ml.load_csv(IRIS_CSV)

    def test_stratified_deterministic_disjoint_and_complete(self):
        train, test = iris_ml.stratified_split(self.y)
        self.assertEqual((train, test), iris_ml.stratified_split(self.y), 'the same split every time')
        self.assertEqual(sorted(train + test), list(range(150)))
        self.assertEqual(len(test), 30)
        self.assertEqual({c: [self.y[i] for i in test].count(c) for c in set(self.y)},
                         {'setosa': 10, 'versicolor': 10, 'virginica': 10})
        self.assertNotEqual(test, iris_ml.stratified_split(self.y, seed=7)[1], 'another seed, another split')

    def test_every_class_keeps_a_row_on_each_side(self):
        train, test = iris_ml.stratified_split(['a', 'a', 'b', 'b', 'b'], test_fraction=0.5)
        self.assertEqual(len(test), 3)  # round(2 * 0.5) = 1 of a, round(3 * 0.5) = 2 of b
        for labels in (['a', 'a', 'b', 'b'],):
            _, held = iris_ml.stratified_split(labels, test_fraction=0.05)
            self.assertEqual(len(held), 2, 'at least one held out per class')

    def test_refuses_data_a_classifier_cannot_use(self):
        with self.assertRaisesRegex(DataError, 'has 1 class; a classifier needs at least 2'):
            iris_ml.stratified_split(['a', 'a'])
        with self.assertRaisesRegex(DataError, 'class "b" has 1 row'):
            iris_ml.stratified_split(['a', 'a', 'b'])


class ClassifierTest(unittest.TestCase):
    def setUp(self):
        self.X, self.y = iris_ml.load_csv(IRIS_CSV)

    def test_held_out_accuracy_is_at_least_90_percent(self):
        model, report = iris_ml.train(self.X, self.y)
        self.assertGreaterEqual(report['accuracy'], 0.9)
        self.assertEqual(report['split'], {'method': 'stratified', 'testFraction': 0.2, 'seed': 42,
                                           'trainRows': 120, 'testRows': 30})
        self.assertEqual(sum(sum(row.values()) for row in report['confusion'].values()), 30)
        self.assertEqual(report['confusion']['setosa'], {'setosa': 10, 'versicolor': 0, 'virginica': 0})
        self.assertEqual(model.classes, ['setosa', 'versicolor', 'virginica'])

    def test_accuracy_over_many_splits(self):
        # One 30-row split moves accuracy by 3.3 points a row; the mean over many is the model's.
        scores = [iris_ml.train(self.X, self.y, seed=s)[1]['accuracy'] for s in range(100)]
        self.assertGreater(sum(scores) / len(scores), 0.94)

    def test_known_samples_of_each_class(self):
        model, _ = iris_ml.train(self.X, self.y)
        for features, label in [((5.1, 3.5, 1.4, 0.2), 'setosa'), ((7.0, 3.2, 4.7, 1.4), 'versicolor'),
                                ((6.3, 3.3, 6.0, 2.5), 'virginica'), ((5.0, 3.4, 1.5, 0.2), 'setosa'),
                                ((5.7, 2.8, 4.1, 1.3), 'versicolor'), ((7.7, 3.0, 6.1, 2.3), 'virginica')]:
            with self.subTest(features=features):
                p = model.predict_proba(features)
                self.assertEqual(model.predict(features), label)
                self.assertEqual(max(p, key=p.get), label)
                self.assertAlmostEqual(math.fsum(p.values()), 1.0, places=12)
                self.assertGreater(p[label], 0.5)

    def test_matches_the_closed_form_on_a_small_case(self):
        # Two classes, one feature: a = {0, 2} (mean 1, variance 1), b = {4, 6, 8} (mean 6, variance 8/3).
        model = iris_ml.GaussianNB.fit([(0.0,), (2.0,), (4.0,), (6.0,), (8.0,)], ['a', 'a', 'b', 'b', 'b'])
        eps = iris_ml.VAR_SMOOTHING * 8.0  # the variance of all five values is 8
        self.assertEqual(model.priors, [0.4, 0.6])
        self.assertEqual(model.means, [[1.0], [6.0]])
        self.assertAlmostEqual(model.variances[0][0], 1.0 + eps, places=15)
        self.assertAlmostEqual(model.variances[1][0], 8 / 3 + eps, places=15)

        def density(x, mean, var):
            return math.exp(-(x - mean) ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)
        x = 3.0
        pa = 0.4 * density(x, 1.0, 1.0 + eps)
        pb = 0.6 * density(x, 6.0, 8 / 3 + eps)
        self.assertAlmostEqual(model.predict_proba((x,))['a'], pa / (pa + pb), places=12)

    def test_far_away_points_do_not_underflow(self):
        model, _ = iris_ml.train(self.X, self.y)
        p = model.predict_proba((1000.0, 0.0, 1000.0, 0.0))
        self.assertTrue(all(math.isfinite(v) for v in p.values()))
        self.assertAlmostEqual(math.fsum(p.values()), 1.0, places=12)

    def test_parameters_round_trip_and_version_is_a_content_address(self):
        model, report = iris_ml.train(self.X, self.y)
        again = iris_ml.GaussianNB.from_parameters(json.loads(json.dumps(model.parameters())))
        self.assertEqual(again.predict_proba((6.0, 2.9, 4.5, 1.5)), model.predict_proba((6.0, 2.9, 4.5, 1.5)))
        self.assertRegex(report['version'], r'^gnb-[0-9a-f]{12}$')
        self.assertEqual(report['version'], iris_ml.train(self.X, self.y)[1]['version'])
        self.assertNotEqual(report['version'], iris_ml.train(self.X, self.y, seed=1)[1]['version'])

    def test_refuses_broken_parameters(self):
        good = iris_ml.train(self.X, self.y)[0].parameters()
        broken = [None, {}, dict(good, priors=[0.5, 0.5]), dict(good, variances=[[1, 1, 1, 0]] * 3),
                  dict(good, means=[[1, 2, 3]] * 3), dict(good, means=[[1, 2, 3, float('nan')]] * 3),
                  dict(good, priors=[True, 0.5, 0.5])]
        for p in broken:
            with self.subTest(p=str(p)[:60]):
                with self.assertRaises(ValueError):
                    iris_ml.GaussianNB.from_parameters(p)


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='iris-store-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        X, y = iris_ml.load_csv(IRIS_CSV)
        self.model, self.report = iris_ml.train(X, y)

    def test_model_dir_comes_from_the_volume_variable(self):
        self.assertEqual(model_store.volume_env('iris-models'), 'KSS_VOLUME_IRIS_MODELS')
        self.assertEqual(model_store.model_dir({'KSS_VOLUME_IRIS_MODELS': self.dir}), self.dir)
        env = {'MODEL_VOLUME': 'iris-monolith-models', 'KSS_VOLUME_IRIS_MONOLITH_MODELS': self.dir}
        self.assertEqual(model_store.model_dir(env), self.dir)
        with self.assertRaisesRegex(model_store.StoreUnavailable, 'KSS_VOLUME_IRIS_MODELS is not set.*kss.volume: iris-models'):
            model_store.model_dir({})
        with self.assertRaisesRegex(model_store.StoreUnavailable, 'is not a folder'):
            model_store.model_dir({'KSS_VOLUME_IRIS_MODELS': os.path.join(self.dir, 'nope')})

    def test_save_is_atomic_group_readable_and_reads_back(self):
        old = os.umask(0o002)  # the platform's umask for volume users
        try:
            path = model_store.save(self.dir, self.model, self.report)
        finally:
            os.umask(old)
        self.assertEqual(os.listdir(self.dir), [model_store.MODEL_FILE], 'no temporary file is left behind')
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o664)
        model, document = model_store.read(self.dir)
        self.assertEqual(document['version'], self.report['version'])
        self.assertEqual(document['format'], iris_ml.MODEL_FORMAT)
        self.assertEqual(model.parameters(), self.model.parameters())

    def test_concurrent_saves_leave_one_whole_file(self):
        threads = [threading.Thread(target=model_store.save, args=(self.dir, self.model, self.report)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(os.listdir(self.dir), [model_store.MODEL_FILE])
        self.assertEqual(model_store.read(self.dir)[1]['version'], self.report['version'])

    def test_missing_and_unusable_files(self):
        with self.assertRaises(model_store.NoModel):
            model_store.read(self.dir)
        path = os.path.join(self.dir, model_store.MODEL_FILE)
        for content, message in [(b'{not json', 'is not JSON'), (b'[]', "format 'list'"),
                                 (b'{"format": "other/1"}', "format 'other/1'"),
                                 (json.dumps({'format': iris_ml.MODEL_FORMAT, 'version': 'v', 'parameters': {}}).encode(),
                                  'incomplete')]:
            with open(path, 'wb') as f:
                f.write(content)
            with self.subTest(content=content):
                with self.assertRaisesRegex(model_store.BadModel, message):
                    model_store.read(self.dir)

    def test_cache_rereads_only_a_replaced_file(self):
        cache = model_store.ModelCache()
        with self.assertRaises(model_store.NoModel):
            cache.get(self.dir)
        model_store.save(self.dir, self.model, self.report)
        first = cache.get(self.dir)
        self.assertIs(cache.get(self.dir), first, 'unchanged file: the cached object')
        X, y = iris_ml.load_csv(IRIS_CSV)
        other, report = iris_ml.train(X, y, seed=3)
        model_store.save(self.dir, other, report)
        self.assertEqual(cache.get(self.dir)[1]['version'], report['version'], 'a replaced file is read again')


class HandlerTest(unittest.TestCase):
    """The answers of api.train / api.predict / monolith.handle, on a temporary volume."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='iris-volume-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.env = {'KSS_VOLUME_IRIS_MODELS': self.dir}
        saved = {k: os.environ.get(k) for k in ('KSS_VOLUME_IRIS_MODELS', 'MODEL_VOLUME', 'MIN_ACCURACY')}
        self.addCleanup(lambda: [os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v) for k, v in saved.items()])
        for k in saved:
            os.environ.pop(k, None)
        os.environ['KSS_VOLUME_IRIS_MODELS'] = self.dir
        self.context = Context()

    def call(self, handler, **event):
        body, status, headers = handler(Event(**event), self.context)
        json.dumps(body)  # every answer is JSON
        return status, body, headers

    def test_train_then_predict(self):
        status, body, _ = self.call(api.train, body=IRIS_CSV)
        self.assertEqual(status, 200, body)
        self.assertGreaterEqual(body['accuracy'], 0.9)
        self.assertEqual(body['split']['testRows'], 30)
        self.assertRegex(body['model'], r'^gnb-[0-9a-f]{12}$')
        self.assertIn('trained %s' % body['model'], self.context.lines[-1])

        status, one, _ = self.call(api.predict, body='{"features":[5.1,3.5,1.4,0.2]}')
        self.assertEqual(status, 200, one)
        self.assertEqual(one['class'], 'setosa')
        self.assertEqual(one['model'], body['model'])
        self.assertEqual(set(one['probabilities']), {'setosa', 'versicolor', 'virginica'})

        named = json.dumps({'features': dict(zip(iris_ml.FEATURES, [6.3, 3.3, 6.0, 2.5]))})
        self.assertEqual(self.call(api.predict, body=named)[1]['class'], 'virginica')

        status, batch, _ = self.call(api.predict, body=json.dumps({'instances': [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4]]}))
        self.assertEqual(status, 200)
        self.assertEqual([p['class'] for p in batch['predictions']], ['setosa', 'versicolor'])
        self.assertEqual(batch['predictions'][0], {'class': one['class'], 'probabilities': one['probabilities']})

        status, info, _ = self.call(api.predict, method='GET')
        self.assertEqual((status, info['model'], info['accuracy']), (200, body['model'], body['accuracy']))

    def test_predict_before_any_model_is_a_503(self):
        status, body, _ = self.call(api.predict, body='{"features":[5.1,3.5,1.4,0.2]}')
        self.assertEqual((status, body['code']), (503, 'IRIS_NO_MODEL'))
        self.assertIn('POST the training data', body['message'])
        self.assertEqual(self.call(api.predict, method='GET')[0], 503)

    def test_bad_predict_bodies_are_400_with_a_reason(self):
        self.call(api.train, body=IRIS_CSV)
        cases = {
            '': 'the body is empty',
            '{"features": [5.1, 3.5': 'not valid JSON',
            '[5.1, 3.5, 1.4, 0.2]': 'expected a JSON object',
            '{"features": [5.1, 3.5, 1.4]}': 'features: expected 4 numbers',
            '{"features": [5.1, 3.5, 1.4, "x"]}': 'features[3]: expected a number, got "x"',
            '{"features": [5.1, 3.5, 1.4, true]}': 'features[3]: expected a number, got true',
            '{"features": [5.1, 3.5, 1.4, 1e300]}': 'features[3]: 1e+300 is outside',
            '{"features": {"sepal_length": 5}}': 'features: missing sepal_width, petal_length, petal_width',
            '{"features": [1,2,3,4], "extra": 1}': 'unknown field "extra"',
            '{"features": [1,2,3,4], "instances": []}': 'not both',
            '{"instances": []}': 'instances: expected a non-empty list',
            '{"instances": [[1,2,3,4], [1,2]]}': 'instances[1]: expected 4 numbers',
            json.dumps({'instances': [[1, 2, 3, 4]] * 1001}): 'at most 1000',
            '{}': 'expected "features"',
        }
        for text, message in cases.items():
            with self.subTest(body=text[:50]):
                status, body, _ = self.call(api.predict, body=text)
                self.assertEqual((status, body['code']), (400, 'IRIS_BAD_INPUT'))
                self.assertIn(message, body['message'])

    def test_bad_train_requests(self):
        cases = [
            (dict(body=''), 400, 'the body is empty'),
            (dict(body=b'\xff\xfe'), 400, 'not UTF-8'),
            (dict(body='a,b\n1,2\n'), 400, 'the header has no column'),
            (dict(body=IRIS_CSV, query={'seed': 'x'}), 400, 'seed: "x" is not an integer'),
            (dict(body=IRIS_CSV, query={'test_fraction': '0.9'}), 400, 'test_fraction: "0.9" is not a number from 0.05 to 0.5'),
            (dict(body=IRIS_CSV, query={'epochs': '3'}), 400, 'unknown query parameter epochs'),
            (dict(method='GET'), 405, 'GET is not supported here; use POST'),
        ]
        for event, status, message in cases:
            with self.subTest(event=str(event)[:60]):
                got, body, headers = self.call(api.train, **event)
                self.assertEqual(got, status, body)
                self.assertIn(message, body['message'])
        self.assertEqual(self.call(api.train, method='PUT')[2], {'Allow': 'POST'})
        self.assertEqual(os.listdir(self.dir), [], 'nothing was stored')

    def test_train_options_and_the_accuracy_gate(self):
        status, body, _ = self.call(api.train, body=IRIS_CSV, query={'seed': '8', 'test_fraction': '0.3'})
        self.assertEqual(status, 200)
        self.assertEqual((body['split']['seed'], body['split']['testRows']), (8, 45))
        os.environ['MIN_ACCURACY'] = '0.999'
        status, low, _ = self.call(api.train, body=IRIS_CSV)
        self.assertEqual((status, low['code']), (422, 'IRIS_LOW_ACCURACY'))
        self.assertEqual(self.call(api.predict, method='GET')[1]['model'], body['model'], 'the previous model stays')
        os.environ['MIN_ACCURACY'] = 'lots'
        self.assertEqual(self.call(api.train, body=IRIS_CSV)[1]['code'], 'IRIS_BAD_CONFIG')

    def test_without_the_volume_the_answer_says_how_to_deploy(self):
        del os.environ['KSS_VOLUME_IRIS_MODELS']
        for handler, event in [(api.train, dict(body=IRIS_CSV)), (api.predict, dict(body='{"features":[1,2,3,4]}'))]:
            status, body, _ = self.call(handler, **event)
            self.assertEqual((status, body['code']), (500, 'IRIS_NO_VOLUME'))
            self.assertIn('kss.volume: iris-models', body['message'])

    def test_a_corrupt_model_file_is_a_500_not_a_crash(self):
        with open(os.path.join(self.dir, model_store.MODEL_FILE), 'w') as f:
            f.write('{')
        status, body, _ = self.call(api.predict, body='{"features":[1,2,3,4]}')
        self.assertEqual((status, body['code']), (500, 'IRIS_BAD_MODEL'))

    def test_the_monolith_routes_to_the_same_code(self):
        status, trained, _ = self.call(monolith.handle, path='/train', body=IRIS_CSV)
        self.assertEqual(status, 200)
        direct = self.call(api.train, body=IRIS_CSV)[1]
        for answer in (trained, direct):
            answer.pop('trainSeconds')  # timing, the only field that differs
        self.assertEqual(trained, direct)
        request = '{"features":[6.3,3.3,6.0,2.5]}'
        self.assertEqual(self.call(monolith.handle, path='/predict/', body=request)[1], self.call(api.predict, body=request)[1])
        self.assertEqual(self.call(monolith.handle, path='/', method='GET')[0], 200)
        status, body, _ = self.call(monolith.handle, path='/nope')
        self.assertEqual((status, body['code']), (404, 'IRIS_NOT_FOUND'))
        self.assertEqual(self.call(monolith.handle, path='/', method='POST')[0], 405)


if __name__ == '__main__':
    unittest.main()
