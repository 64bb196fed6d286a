"perf_opt_train as a user runs it: killed with SIGKILL and resumed, stopped with SIGTERM, bad arguments."
import json, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch

QUICK = ['poetry', '--n-lines', '3000', '--set', 'batch_size=16', '--set', 'model.hidden=32', '--set', 'model.latent=16',
         '--set', 'eval_every=20', '--set', 'eval_sequences=64', '--set', 'log_every=5', '--quiet']

def exe():
    path = shutil.which('perf_opt_train')
    assert path, "perf_opt_train is not on PATH: is the package installed (pip install -e .)?"
    return path

def run(args, **kw): return subprocess.run([exe(), *args], capture_output=True, text=True, timeout=600, **kw)

def params(out: Path) -> dict:
    cks = sorted((out / 'checkpoints').glob('ckpt-*.pt'))
    return torch.load(cks[-1], weights_only=True)['model']

def wait_for(pred, proc, seconds=300):
    deadline = time.time() + seconds
    while not pred():
        assert proc.poll() is None, proc.stderr.read()[-2000:] if proc.stderr else 'exited'
        assert time.time() < deadline, 'timed out'
        time.sleep(0.05)

def test_sigkill_then_resume_is_exact(repo, tmp_path):
    "A run killed with SIGKILL mid-training and resumed ends with the same parameters and loss as an uninterrupted run."
    args = QUICK + ['--max-steps', '120', '--checkpoint-every', '10']
    straight = run(args + ['--out', str(tmp_path / 'a')])
    assert straight.returncode == 0, straight.stderr[-2000:]
    p = subprocess.Popen([exe(), *args, '--out', str(tmp_path / 'b')], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try: wait_for(lambda: len(list((tmp_path / 'b' / 'checkpoints').glob('ckpt-*.pt'))) >= 2, p)
    finally: p.send_signal(signal.SIGKILL); p.wait()
    done = sorted((tmp_path / 'b' / 'checkpoints').glob('ckpt-*.pt'))
    assert done and int(done[-1].stem.split('-')[1]) < 120, done
    resumed = run(args + ['--out', str(tmp_path / 'b'), '--resume'])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = params(tmp_path / 'a'), params(tmp_path / 'b')
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = (json.loads((tmp_path / x / 'summary.json').read_text()) for x in 'ab')
    assert (sa['final_loss'], sa['steps'], sa['sequences']) == (sb['final_loss'], sb['steps'], sb['sequences'])

def test_sigterm_writes_a_checkpoint_and_exits_cleanly(repo, tmp_path):
    out = tmp_path / 'r'
    p = subprocess.Popen([exe(), *QUICK, '--max-steps', '100000', '--out', str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (out / 'metrics.csv').exists() and (out / 'metrics.csv').read_text().count('\n') >= 3, p)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=120) == 0, p.stderr.read()[-2000:]
    s = json.loads((out / 'summary.json').read_text())
    assert s['stopped'] == 'signal SIGTERM' and 0 < s['steps'] < 100000
    assert (out / 'checkpoints' / f"ckpt-{s['steps']:09d}.pt").exists()

@pytest.mark.parametrize('argv, message', [
    (['poetry', '--max-steps', 'ten'], "argument --max-steps: invalid int value: 'ten'"),
    (['poetry', '--preset', 'turbo'], "preset 'turbo': expected one of naive, optimized, seed000, default"),
    (['sentiment'], "task 'sentiment': expected one of poetry"),
    (['poetry', '--set', 'precision=fp8'], "TrainConfig.precision='fp8': expected one of"),
    (['poetry', '--config', '/no/such/config.json'], '/no/such/config.json: no such config file'),
    (['poetry', '--bogus'], 'unrecognized arguments: --bogus'),
    (['poetry', '--n-lines', '2000', '--set', 'model.decoder_input=none'], "TrainConfig.model: cfg.decoder_input must be one of"),
])
def test_bad_arguments_exit_2_with_one_line(repo, argv, message):
    r = run(argv)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, r.stderr
