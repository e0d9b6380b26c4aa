"""Checks of a Python handler before anything is deployed, without running it. Each
prints one JSON line on stdout and exits 0 whenever the check itself ran.

``python3 -S check.py handler <file> <name>`` parses ``<file>`` (shown as ``<name>``,
relative to the function's folder) and looks for a top-level ``handle`` taking at
least one parameter:

    {"ok": true, "form": "def" | "async def" | "bound", "params": N | null}
    {"error": "syntax", "file", "line", "column", "message", "text"}
    {"error": "no-handle"} | {"error": "no-params", "line"}

``python3 -S check.py imports <code_dir> <file>`` looks for the modules the handler
imports unconditionally at its top level, on the sys.path a replica will have
(kss_runtime.py's rules), without importing them:

    {"missing": [{"module", "line"}]}
"""
import ast
import json
import os
import sys


def find_handle(body):
    """The last top-level binding of ``handle`` (as Python would see it), looking into if/try/with blocks."""
    found = None
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == 'handle':
                found = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == 'handle' for t in targets):
                found = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name) == 'handle' for a in node.names):
                found = node
        elif isinstance(node, ast.ClassDef):
            if node.name == 'handle':
                found = node
        else:
            for field in ('body', 'orelse', 'finalbody', 'handlers'):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner:
                    blocks = [h.body for h in inner] if field == 'handlers' else [inner]
                    for block in blocks:
                        deeper = find_handle(block)
                        if deeper is not None:
                            found = deeper
    return found


def check(file, name):
    with open(file, 'rb') as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as exc:
        return {'error': 'syntax', 'file': name, 'line': exc.lineno, 'column': exc.offset,
                'message': exc.msg, 'text': (exc.text or '').rstrip('\n'), 'kind': type(exc).__name__}
    except ValueError as exc:  # null bytes, undecodable source
        return {'error': 'syntax', 'file': name, 'line': None, 'column': None, 'message': str(exc), 'text': '',
                'kind': type(exc).__name__}
    node = find_handle(tree.body)
    if node is None:
        return {'error': 'no-handle'}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args
        params = len(args.posonlyargs) + len(args.args)
        if params == 0 and args.vararg is None:
            return {'error': 'no-params', 'line': node.lineno}
        return {'ok': True, 'form': 'async def' if isinstance(node, ast.AsyncFunctionDef) else 'def',
                'params': params, 'line': node.lineno}
    return {'ok': True, 'form': 'bound', 'params': None, 'line': node.lineno}


def missing_imports(code_dir, file):
    """Top-level, unguarded absolute imports of ``file`` that no finder can locate."""
    with open(file, 'rb') as f:
        tree = ast.parse(f.read(), filename=file)
    wanted = []
    for node in tree.body:  # only unconditional imports: try/if blocks may guard optional ones
        if isinstance(node, ast.Import):
            wanted += [(a.name.split('.')[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module != '__future__':
            wanted.append((node.module.split('.')[0], node.lineno))
    import kss_runtime  # the runtime's own sys.path rules (a sibling of this file; importing it has no side effects)
    del sys.path[0]  # this folder, which a replica does not have
    kss_runtime.add_site_paths(os.environ.get('KSS_PYTHON_SITE') or 'paths')
    front = [os.path.join(code_dir, '.python_packages'), os.path.dirname(file), code_dir]
    sys.path[0:0] = [p for i, p in enumerate(front) if os.path.isdir(p) and p not in front[:i]]
    import importlib.util
    missing = []
    for name, line in wanted:
        if name in sys.modules or name in sys.builtin_module_names:
            continue
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found and name not in [m['module'] for m in missing]:
            missing.append({'module': name, 'line': line})
    return {'missing': missing}


if __name__ == '__main__':
    if sys.argv[1] == 'imports':
        result = missing_imports(sys.argv[2], sys.argv[3])
    else:
        result = check(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else sys.argv[2])
    sys.stdout.write(json.dumps(result) + '\n')
