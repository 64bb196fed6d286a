"Issue 38: verdicts a user can trust: interval coverage, the race's error rate, the A/A row, and the command's limits."
import csv, shutil, subprocess
from pathlib import Path
import numpy as np
import pytest

def bench(args, **kw):
    exe = shutil.which('perf_opt_bench')
    assert exe, "perf_opt_bench is not on PATH: is the package installed (pip install -e .)?"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=600, **kw)

@pytest.mark.parametrize('noise', [0.1, 0.2, 0.3])
@pytest.mark.parametrize('kind', ['lognormal', 'uniform'])
def test_interval_coverage(repo, noise, kind):
    "The nominal 95% interval holds a known effect at least 93% of the time, at 3, 5 and 10 rounds."
    from perf_opt.stats import ratio_interval, simulated_rounds
    rng = np.random.default_rng(1)
    for rounds in (3, 5, 10):
        hits = [(iv := ratio_interval(simulated_rounds(0.8, noise, rounds, rng, kind)))['lo'] <= 0.8 <= iv['hi']
                for _ in range(1500)]
        assert np.mean(hits) >= 0.93, (kind, noise, rounds, np.mean(hits))

def test_race_error_rate(repo):
    "Racing with looks at rounds 3, 5, 8: a no-op is called a gain or a cost in at most 5% of races; 1.3x pays."
    from perf_opt.stats import race_errors
    for noise in (0.05, 0.1, 0.2):
        assert race_errors(1.0, noise, most=8, trials=400, seed=2)['wrong'] <= 0.05, noise
    big = race_errors(1.3, 0.05, most=8, trials=400, seed=3)
    assert big['wrong'] == 0 and big['settled'] > 0.9, big

TINY = ['--task', 'examples/tiny_cnn.py:TinyCNN', '--only', 'sync_free_logging', '--sequences', '256', '--min-run-s',
        '0.1', '--repeats', '3', '--time-limit', '60', '--quiet']

def test_aa_row_and_verdict_columns(repo, tmp_path):
    r = bench([*TINY, '--out', tmp_path / 'b'])
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {x['config']: x for x in csv.DictReader(open(tmp_path / 'b' / 'benchmark_results.csv'))}
    assert rows['baseline_aa']['kind'] == 'aa' and rows['baseline_aa']['compared'] == 'baseline_aa / baseline'
    text = (tmp_path / 'b' / 'performance_summary.md').read_text()
    for name in ('baseline_aa', '+sync_free_logging', 'all', 'all-sync_free_logging'):
        x = rows[name]
        assert x['verdict'] in ('pays', 'costs', 'equivalent', 'not_settled'), x
        if int(x['rounds']) >= 1: assert float(x['ratio_lo']) <= float(x['ratio']) <= float(x['ratio_hi']), x
        else:  # on a machine where something else runs, no round may be quiet: not settled, and the summary says why
            assert x['verdict'] == 'not_settled' and int(x['busy_runs']) >= 1 and 'The machine was not quiet' in text, x
    assert 'Noise on this machine during this run' in text and 'A/A control reads' in text, text

def test_out_holding_results_is_refused(repo, tmp_path):
    (tmp_path / 'b').mkdir(); (tmp_path / 'b' / 'performance_summary.md').write_text('an earlier bench')
    r = bench([*TINY, '--out', tmp_path / 'b'])
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and '--overwrite' in r.stderr, r.stderr
    assert (tmp_path / 'b' / 'performance_summary.md').read_text() == 'an earlier bench'

def test_budget_was_renamed(repo, tmp_path):
    r = bench([*TINY, '--budget', '60', '--out', tmp_path / 'b'])
    assert r.returncode == 2 and '--ttq-cap' in r.stderr and '--time-limit' in r.stderr, r.stderr
