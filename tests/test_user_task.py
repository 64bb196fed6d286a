"Your model through the installed commands: each --task form, bad ones, exact resume after SIGKILL, DDP, TensorBoard."
import csv, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch

TASK = '''
import time
import torch
from torch.utils.data import TensorDataset
from perf_opt import Task, TaskData

class Regression(Task):
    "y = x @ w + noise, a linear model; (x, y) tuple batches and no lengths; `pause` seconds a step (to be killable)."
    name, pause = 'regression', 0.0
    def data(self, cfg):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(512, 8, generator=g); y = x @ torch.arange(8.0) + 0.1 * torch.randn(512, generator=g)
        return TaskData(TensorDataset(x[:448], y[:448]), TensorDataset(x[448:], y[448:]))
    def build_model(self, cfg): return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Dropout(0.1), torch.nn.Linear(16, 1))
    def loss(self, model, batch):
        if self.pause: time.sleep(self.pause)
        x, y = batch
        return torch.nn.functional.mse_loss(model(x).squeeze(-1), y)

class Slow(Regression): pause = 0.01

class NoisyLinear(Task):
    "y = x @ w + noise and a linear model at zero: its per-sample gradients, hence B_simple, are known exactly."
    name = 'noisy_linear'
    def data(self, cfg):
        x, y = noisy_data()
        return TaskData(TensorDataset(x, y), TensorDataset(x[:64], y[:64]))
    def build_model(self, cfg):
        m = torch.nn.Linear(16, 1, bias=False); torch.nn.init.zeros_(m.weight); return m
    def loss(self, model, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(model(x).squeeze(-1), y)

def noisy_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 16, generator=g)
    return x, x @ torch.randn(16, generator=g) + 0.5 * torch.randn(4096, generator=g)

regression = Regression()
'''
COMMON = ['--max-steps', '12', '--set', 'batch_size=32', '--set', 'eval_every=6', '--quiet']

@pytest.fixture()
def task_file(tmp_path) -> Path:
    (tmp_path / 'usertasks').mkdir()
    p = tmp_path / 'usertasks' / 'regression_task.py'; p.write_text(TASK)
    return p

def train(args, **kw):
    exe = shutil.which('perf_opt_train')
    assert exe, "perf_opt_train is not on PATH: is the package installed (pip install -e .)?"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=600, **kw)

def summary(out: Path) -> dict: return json.loads((out / 'summary.json').read_text())

@pytest.mark.parametrize('form', ['file_class', 'file_instance', 'module_class'])
def test_each_task_form(repo, task_file, tmp_path, form):
    spec = {'file_class': f'{task_file}:Regression', 'file_instance': f'{task_file}:regression',
            'module_class': 'regression_task:Regression'}[form]
    env = os.environ | {'PYTHONPATH': str(task_file.parent)}
    r = train([spec, *COMMON, '--out', tmp_path / 'run'], env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    s = summary(tmp_path / 'run')
    assert (s['task'], s['steps'], s['sequences']) == ('regression', 12, 12 * 32)
    assert s['final_eval']['val_loss'] > 0 and s['best']['metric'] == 'val_loss'

@pytest.mark.parametrize('spec, message', [
    ('{d}/nope.py:Regression', 'no such file'), ('{d}/regression_task.py:Nope', "has no 'Nope'"),
    ('{d}/regression_task.py:torch', 'is not a task'), ('no_such_module_xyz:Task', "no module named 'no_such_module_xyz'"),
    ('vision', 'expected one of poetry, pretrain, finetune'),
])
def test_bad_task_exits_2_with_one_line(repo, task_file, tmp_path, spec, message):
    r = train([spec.format(d=task_file.parent), '--out', tmp_path / 'x'])
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, r.stderr

def test_user_task_sigkill_then_resume_is_exact(repo, task_file, tmp_path):
    "Dropout, shuffled batches, a warmup-cosine schedule: killed after two checkpoints, resumed, equal to a straight run."
    args = [f'{task_file}:Slow', '--max-steps', '120', '--checkpoint-every', '10', '--set', 'batch_size=32',
            '--set', 'eval_every=25', '--quiet']
    straight = train([*args, '--out', tmp_path / 'a'])
    assert straight.returncode == 0, straight.stderr[-2000:]
    p = subprocess.Popen([shutil.which('perf_opt_train'), *map(str, args), '--out', str(tmp_path / 'b')],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    try:
        while len(list((tmp_path / 'b' / 'checkpoints').glob('ckpt-*.pt'))) < 2:
            assert p.poll() is None and time.time() < deadline, 'the run ended before it could be killed'
            time.sleep(0.02)
    finally: p.send_signal(signal.SIGKILL); p.wait()
    resumed = train([*args, '--out', tmp_path / 'b', '--resume'])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ck = lambda d: torch.load(sorted((tmp_path / d / 'checkpoints').glob('ckpt-*.pt'))[-1], weights_only=True)['model']
    a, b = ck('a'), ck('b')
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = summary(tmp_path / 'a'), summary(tmp_path / 'b')
    assert (sa['final_loss'], sa['steps'], sa['sequences']) == (sb['final_loss'], sb['steps'], sb['sequences'])

def test_user_task_under_torchrun(repo, task_file, tmp_path):
    "Two processes (gloo): the job finishes, rank 0 alone writes, and the sequences of both ranks are counted."
    from perf_opt.distributed import torchrun_command
    cmd = torchrun_command(2, [f'{task_file}:Regression', *COMMON, '--set', 'threads=1', '--out', tmp_path / 'ddp'])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    s = summary(tmp_path / 'ddp')
    assert (s['world_size'], s['steps'], s['sequences']) == (2, 12, 2 * 12 * 32)
    assert r.stdout.count('"task": "regression"') == 1, r.stdout  # one summary line: rank 0's
    rows = (tmp_path / 'ddp' / 'metrics.csv').read_text().strip().split('\n')
    assert len(rows) == 1 + len({int(x.split(',')[0]) for x in rows[1:]}), rows  # one row per step: written once

def test_noise_scale_from_the_ranks_under_torchrun(repo, task_file, tmp_path):
    "Two ranks of 8 (gloo), no accumulation: B_simple from each rank's gradient vs their mean, near the exact value."
    from perf_opt.distributed import torchrun_command
    sets = ['batch_size=8', 'noise_scale=true', 'optimizer=sgd', 'lr=1e-12', 'scheduler=null', 'log_every=1500',
            'eval_every=0', 'threads=1']
    args = [f'{task_file}:NoisyLinear', '--max-steps', '1500', '--quiet', '--out', tmp_path / 'ns']
    r = subprocess.run(torchrun_command(2, args + [x for kv in sets for x in ('--set', kv)]), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    estimate = float(list(csv.DictReader(open(tmp_path / 'ns' / 'metrics.csv')))[-1]['noise_scale'])
    sys.path.insert(0, str(task_file.parent))
    from regression_task import noisy_data
    x, y = noisy_data()
    g = -2 * y[:, None] * x  # d/dw (w.x - y)^2 at w = 0, per sample
    exact = float(g.var(0).sum() / g.mean(0).square().sum())
    assert abs(estimate / exact - 1) < 0.25, (estimate, exact)
    print(f'B_simple: exact {exact:.2f}, estimated from 2 ranks {estimate:.2f}')

def test_tensorboard_event_file(repo, task_file, tmp_path):
    "--tensorboard with the package installed: the event file holds the logged scalars at their steps."
    pytest.importorskip('tensorboard', reason='the tensorboard extra: pip install -e ".[tensorboard]"')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    r = train([f'{task_file}:Regression', *COMMON, '--set', 'log_every=3', '--tensorboard', '--out', tmp_path / 'tb'])
    assert r.returncode == 0, r.stderr[-2000:]
    acc = EventAccumulator(str(tmp_path / 'tb' / 'tensorboard')); acc.Reload()
    assert {'loss', 'lr', 'seq_per_s', 'val_loss'} <= set(acc.Tags()['scalars']), acc.Tags()
    assert [e.step for e in acc.Scalars('loss')] == [3, 6, 9, 12]
    assert [e.step for e in acc.Scalars('val_loss')] == [6, 12]
    assert all(e.value > 0 for e in acc.Scalars('loss'))
