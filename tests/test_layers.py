"The package's import graph: modules import only earlier ones, no private names across modules, no string imports."
import ast, re
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / 'perf_opt'
# DESIGN.md's order (notebook order, with `parallel`, exported from 13_distributed, below the trainer that uses it)
ORDER = ['core', 'files', 'stats', 'data', 'baseline', 'dataloader', 'amp', 'glove', 'schedulers', 'async_io', 'bucketing', 'profiling',
         'parallel', 'config', 'task', 'runs', 'batch_size', 'trainer', 'poetry', 'ohlcv', 'pretraining', 'ucr', 'bench', 'report',
         'distributed', 'cli']

def modules() -> dict:
    return {p.stem: ast.parse(p.read_text()) for p in PKG.glob('*.py') if p.stem not in ('__init__', '_modidx')}

def test_every_module_is_in_the_order():
    assert sorted(modules()) == sorted(ORDER), set(modules()) ^ set(ORDER)

def imports(tree) -> list:
    "(module, names) of each import of a perf_opt module, at the top or inside a function (a lazy import counts)."
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is None and node.level == 0: continue
        if isinstance(node, ast.ImportFrom) and (node.level == 1 or (node.module or '').startswith('perf_opt')):
            mods = [a.name for a in node.names] if node.module in (None, 'perf_opt') else [node.module.removeprefix('perf_opt.')]
            out += [(m, [] if node.module in (None, 'perf_opt') else [a.name for a in node.names]) for m in mods]
        elif isinstance(node, ast.Import):
            out += [(a.name.removeprefix('perf_opt.'), []) for a in node.names if a.name.startswith('perf_opt.')]
    return out

def test_modules_import_only_earlier_ones_and_no_private_names():
    bad = []
    for name, tree in modules().items():
        for mod, names in imports(tree):
            if ORDER.index(mod) >= ORDER.index(name): bad.append(f"{name} imports the later module {mod}")
            bad += [f"{name} imports the private {mod}.{n}" for n in names if n.startswith('_')]
    assert not bad, bad

def test_no_string_imports():
    found = set()
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r'perf_opt\.\w+(:\w+)?', node.value):
                found.add((name, node.value))
    assert not found, found

def test_the_commands_live_in_cli():
    ini = (PKG.parent / 'settings.ini').read_text()
    for cmd in ('perf_opt_train', 'perf_opt_bench'): assert f'{cmd}=perf_opt.cli:{cmd}' in ini, cmd

def test_no_module_getattr_aliases():
    "The one-release aliases are gone: no module resolves names lazily (a hidden import of a later module)."
    found = [name for name, tree in modules().items()
             if any(isinstance(f, ast.FunctionDef) and f.name == '__getattr__' for f in tree.body)]
    assert not found, found

def test_a_lazy_import_of_a_later_module_is_caught():
    "The walk sees an import made inside a function."
    tree = ast.parse("def f():\n    from perf_opt import cli\n    return cli")
    assert imports(tree) == [('cli', [])]
