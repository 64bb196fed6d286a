"UCR/UEA sets through the command line: pretraining then fine-tuning on a shipped set, the bad inputs (exit 2, one line)."
import json, shutil, subprocess

TINY = ['--set', 'model.hidden=8', '--set', 'model.layers=1', '--set', 'model.patches=6', '--set', 'batch_size=8', '--quiet']

def train(*args, timeout=300):
    return subprocess.run([shutil.which('perf_opt_train'), *map(str, args)], capture_output=True, text=True, timeout=timeout)

def test_pretrain_then_finetune_on_a_shipped_set(repo, tmp_path):
    "pretrain --dataset UnitTest writes an encoder; finetune loads it with a fifth of the labels and scores the test split."
    r = train('pretrain', '--dataset', 'UnitTest', '--max-steps', '3', '--out', tmp_path / 'pre', *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads(r.stdout.splitlines()[-1])
    assert s['task'] == 'pretrain' and s['final_eval']['val_masked_mse'] > 0
    r = train('finetune', '--dataset', 'UnitTest', '--max-steps', '3', '--set', f"model.encoder={tmp_path / 'pre'}",
              '--set', 'model.labels=0.2', '--out', tmp_path / 'ft', *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads(r.stdout.splitlines()[-1])
    assert s['task'] == 'finetune' and 0 <= s['final_eval']['val_accuracy'] <= 1
    assert s['sequences'] == 3 * 4  # 2 classes x max(1, round(0.2 x 10)) labelled series, batches of 4: 3 steps

def test_ucr_bad_inputs_exit_2_with_one_line(repo, tmp_path):
    (tmp_path / 'x_TRAIN.ts').write_text('@problemName x\n@classLabel true a b\n@data\n1,2,3:a\n3,2,1:b\n')
    cases = [(['pretrain', '--dataset', 'NoSuchSet'], "--dataset 'NoSuchSet': not a shipped set or a .ts file; shipped:"),
             (['pretrain', '--dataset', tmp_path / 'x_TRAIN.ts'], 'its test split'),
             (['poetry', '--dataset', 'UnitTest'], '--dataset: the poetry task does not read a UCR/UEA set'),
             (['pretrain', '--dataset', 'UnitTest', '--csv', 'a.csv'], '--csv and --dataset: give one'),
             (['finetune', '--dataset', 'UnitTest', '--set', 'model.labels=2'], 'model.labels=2')]
    for args, message in cases:
        r = train(*args, '--out', tmp_path / 'never')
        assert r.returncode == 2 and r.stderr.count('\n') == 1 and message in r.stderr, (args, r.stderr)
    assert not (tmp_path / 'never').exists()

def test_bench_on_a_shipped_set(repo, tmp_path):
    "perf_opt_bench --task pretrain --dataset UnitTest: the ablation on the set (exit 0, its files); a bad pairing exits 2."
    exe = shutil.which('perf_opt_bench')
    r = subprocess.run([exe, '--task', 'pretrain', '--dataset', 'UnitTest', '--quick', '--only', 'autocast', '--repeats', '1',
                        '--warmup', '0', '--sequences', '16', '--out', str(tmp_path / 'b'), '--quiet'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / 'b' / 'benchmark_results.csv').is_file() and 'Best measured' in r.stdout
    r = subprocess.run([exe, '--dataset', 'UnitTest', '--out', str(tmp_path / 'c')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'the poetry task does not read a UCR/UEA set' in r.stderr, r.stderr
