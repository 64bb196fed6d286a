"The notebooks CI runs: `nbdev_test` runs each once (their quick path, `#| slow` cells skipped); this checks they are all there."
from pathlib import Path

NBS = sorted(p for p in (Path(__file__).resolve().parents[1] / 'nbs').glob('*.ipynb') if not p.name.startswith('_'))

def test_notebooks_found():
    assert {'index', '00_core', '00a_files', '00b_stats', '01a_data', '01b_baseline', '02_dataloader', '03_amp', '04_glove',
            '05_schedulers', '06_async_io', '07_bucketing', '08_profiling', '09a_config', '09b_task', '09c_runs',
            '09d_batch_size', '09e_trainer', '10_poetry', '10b_budget', '10c_time_to_quality', '11_pretraining', '11a_ucr', '12_bench', '12b_report',
            '13_distributed'} <= {p.stem for p in NBS}
