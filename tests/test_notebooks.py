"One test per notebook: its quick path run through nbdev's own test machinery (`#| slow` cells skipped)."
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

NBS = sorted(p for p in (Path(__file__).resolve().parents[1] / 'nbs').glob('*.ipynb') if not p.name.startswith('_'))

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, repo):
    flags = get_config().tst_flags.split()
    ok, secs = run_notebook(nb, skip_flags=flags)
    assert ok, f"{nb.name} failed under nbdev's test runner (skipping {flags}); traceback above"

def test_notebooks_found():
    assert {'index', '00_core', '01a_data', '01b_baseline', '02_dataloader', '03_amp', '04_glove', '05_schedulers', '06_async_io', '07_bucketing', '08_profiling', '09_trainer', '10_poetry', '11_pretraining', '12_bench', '13_distributed'} <= {p.stem for p in NBS}
