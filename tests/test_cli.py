"The console scripts installed by setup.py."
import subprocess, sys, shutil
import torch

def test_perf_opt_env_prints_report_and_measurement(repo):
    exe = shutil.which('perf_opt_env')
    assert exe, "perf_opt_env is not on PATH: is the package installed (pip install -e .)?"
    out = subprocess.run([exe], capture_output=True, text=True, timeout=120, check=True).stdout
    assert torch.__version__ in out and 'cpu_flags' in out
    assert 'smoke benchmark: sum(dim=1) vs python loop:' in out and 'x (pairwise median, IQR' in out

def test_package_and_notebooks_in_sync(repo, tmp_path):
    "nbdev_export into a scratch copy reproduces the committed perf_opt/ exactly."
    import filecmp
    dst = tmp_path / 'repo'
    shutil.copytree(repo, dst, ignore=shutil.ignore_patterns('.git', '_proc', '_docs', '*.egg-info', '__pycache__', '.venv'), symlinks=True)
    subprocess.run([shutil.which('nbdev_export') or 'nbdev_export'], cwd=dst, check=True, capture_output=True)
    for f in sorted((repo / 'perf_opt').glob('*.py')):
        assert filecmp.cmp(f, dst / 'perf_opt' / f.name, shallow=False), f"perf_opt/{f.name} differs from the export: run nbdev_export"
    assert {f.name for f in (dst / 'perf_opt').glob('*.py')} == {f.name for f in (repo / 'perf_opt').glob('*.py')}

def test_perf_opt_bench_console_script(repo, tmp_path):
    "The installed command: exit 0 and five files on a tiny run; exit 2 and one line on a bad argument."
    exe = shutil.which('perf_opt_bench')
    assert exe, "perf_opt_bench is not on PATH: is the package installed (pip install -e .)?"
    r = subprocess.run([exe, '--quick', '--n-lines', '2000', '--sequences', '64', '--repeats', '1', '--warmup', '0',
                        '--only', '+bucketing', '--out', str(tmp_path / 'b'), '--quiet'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / 'b').iterdir()) == ['benchmark_comparison.png', 'benchmark_records.json',
                                                                   'benchmark_results.csv', 'performance_summary.md',
                                                                   'recommended_config.json']
    assert 'Best measured' in r.stdout
    r = subprocess.run([exe, '--only', 'warp_drive'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and "unknown configuration 'warp_drive'" in r.stderr, r.stderr

def test_perf_opt_eval_console_script(repo, tmp_path):
    "perf_opt_train writes a run; perf_opt_eval scores it on the test split and on a text file; a bad file exits 2, one line."
    train, ev = shutil.which('perf_opt_train'), shutil.which('perf_opt_eval')
    assert train and ev, "perf_opt_train / perf_opt_eval are not on PATH: is the package installed (pip install -e .)?"
    run = tmp_path / 'run'
    subprocess.run([train, 'poetry', '--n-lines', '2000', '--max-steps', '4', '--set', 'model.hidden=32', '--set', 'model.latent=16',
                    '--set', 'eval_sequences=32', '--out', str(run), '--quiet'], capture_output=True, text=True, timeout=300, check=True)
    import json
    (tmp_path / 'verse.txt').write_text('the sea\nand the night\n', encoding='utf-8')
    for extra in ([], ['--text-file', str(tmp_path / 'verse.txt')]):
        r = subprocess.run([ev, 'poetry', '--checkpoint', str(run), *extra], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        s = json.loads(r.stdout)
        assert set(s) == {'cosine', 'token_acc', 'n_sequences', 'n_tokens', 'unk_rate'} and -1 <= s['cosine'] <= 1, s
    (tmp_path / 'bad.txt').write_bytes(b'\xff\xfe')
    r = subprocess.run([ev, 'poetry', '--checkpoint', str(run), '--text-file', str(tmp_path / 'bad.txt')], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'bad.txt:1: not UTF-8 text' in r.stderr, r.stderr

def test_perf_opt_train_pretrain_then_finetune_on_a_csv(repo, tmp_path):
    "A user's CSV through both tasks: pretraining, then fine-tuning that loads its encoder; a bad CSV exits 2 naming file:line:column."
    import json
    from perf_opt.pretraining import load_stock_series
    s = load_stock_series()['IBM']  # a real series, written the way a user's export looks (newest first, M/D/YYYY)
    rows = [f"{d.astype(object).strftime('%m/%d/%Y')},{o},{h},{l},{c},{int(v)}" for d, (o, h, l, c, v) in zip(s.dates, s.values)][::-1]
    (tmp_path / 'ibm.csv').write_text('Date,Open,High,Low,Close,Volume\n' + '\n'.join(rows) + '\n')
    train = shutil.which('perf_opt_train')
    tiny = ['--set', 'model.hidden=16', '--set', 'model.layers=1', '--set', 'batch_size=32', '--set', 'eval_sequences=64', '--quiet']
    r = subprocess.run([train, 'pretrain', '--csv', str(tmp_path / 'ibm.csv'), '--max-steps', '3', '--out', str(tmp_path / 'pre'), *tiny],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.splitlines()[-1])['task'] == 'pretrain'
    r = subprocess.run([train, 'finetune', '--csv', str(tmp_path / 'ibm.csv'), '--max-steps', '3', '--set', f"model.encoder={tmp_path / 'pre'}",
                        '--set', 'model.labels=0.25', '--out', str(tmp_path / 'ft'), *tiny], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 0 <= json.loads(r.stdout.splitlines()[-1])['final_eval']['val_accuracy'] <= 1
    (tmp_path / 'bad.csv').write_text('Date,Open,High,Low,Close,Volume\n2021-01-04,1,2,1,1,10\n2021-01-05,1,2,1,n/a,10\n')
    r = subprocess.run([train, 'pretrain', '--csv', str(tmp_path / 'bad.csv')], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and "bad.csv:3: column 'Close': expected a number, got 'n/a'" in r.stderr, r.stderr
