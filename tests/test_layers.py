"The package's import graph: modules import only earlier ones, no private names across modules, no string imports."
import ast, re
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / 'perf_opt'
# DESIGN.md's order (notebook order, with `parallel`, exported from 13_distributed, below the trainer that uses it)
ORDER = ['core', 'data', 'baseline', 'dataloader', 'amp', 'glove', 'schedulers', 'async_io', 'bucketing', 'profiling',
         'parallel', 'trainer', 'poetry', 'pretraining', 'bench', 'distributed']
# string imports still to remove: the task registry names later modules' tasks by path (a late cli module will hold it)
KNOWN_STRING_IMPORTS = {('trainer', 'perf_opt.pretraining:PretrainTask'), ('trainer', 'perf_opt.pretraining:FinetuneTask')}

def modules() -> dict:
    return {p.stem: ast.parse(p.read_text()) for p in PKG.glob('*.py') if p.stem not in ('__init__', '_modidx')}

def imports(tree) -> list:
    "(module, names) of each import of a perf_opt module."
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level == 1 or (node.module or '').startswith('perf_opt.')):
            out.append(((node.module or '').removeprefix('perf_opt.'), [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name.removeprefix('perf_opt.'), []) for a in node.names if a.name.startswith('perf_opt.')]
    return out

def test_every_module_is_in_the_order():
    assert sorted(modules()) == sorted(ORDER), set(modules()) ^ set(ORDER)

def test_modules_import_only_earlier_ones_and_no_private_names():
    bad = []
    for name, tree in modules().items():
        for mod, names in imports(tree):
            if ORDER.index(mod) >= ORDER.index(name): bad.append(f"{name} imports the later module {mod}")
            bad += [f"{name} imports the private {mod}.{n}" for n in names if n.startswith('_')]
    assert not bad, bad

def test_no_string_imports_beyond_the_known_ones():
    found = set()
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r'perf_opt\.\w+(:\w+)?', node.value):
                found.add((name, node.value))
    assert found <= KNOWN_STRING_IMPORTS, found - KNOWN_STRING_IMPORTS
