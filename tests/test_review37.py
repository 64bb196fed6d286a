"Issue 37's repairs: data loss under --overwrite, one interface for the two commands, the noise-scale statistics."
import json, math, subprocess, warnings
from pathlib import Path
import numpy as np
import pytest
import torch
from test_trainer import QUICK, run
from test_user_task import COMMON, TASK, train

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message on a machine without CUDA')

def one_line_error(r, *words):
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    for w in words: assert w in r.stderr, r.stderr

def tree(p: Path) -> dict: return {str(f.relative_to(p)): f.stat().st_mtime_ns for f in sorted(p.rglob('*'))}

@pytest.fixture()
def task_file(tmp_path) -> Path:
    p = tmp_path / 'regression_task.py'
    p.write_text(TASK + '''
class PerSample(Regression):
    def loss(self, model, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(model(x).squeeze(-1), y, reduction='none')
''')
    return p

# 1. --overwrite removes nothing before the new run is built, and then only what this project wrote
def test_overwrite_keeps_the_run_until_the_new_one_is_built(repo, tmp_path):
    out = tmp_path / 'RUN'
    assert run(QUICK + ['--max-steps', '2', '--out', str(out)]).returncode == 0
    (out / 'checkpoints' / 'my_model.pt').write_bytes(b'mine'); (out / 'notes.txt').write_text('mine')
    before = tree(out)
    r = run(QUICK + ['--max-steps', '2', '--out', str(out), '--overwrite', '--set', 'model={"hiden":3}'])
    one_line_error(r, 'hiden')
    assert tree(out) == before  # nothing removed, nothing touched
    r = run(QUICK + ['--max-steps', '3', '--out', str(out), '--overwrite'])
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / 'checkpoints' / 'my_model.pt').read_bytes() == b'mine' and (out / 'notes.txt').read_text() == 'mine'
    assert json.loads((out / 'summary.json').read_text())['steps'] == 3
    assert sorted(p.name for p in (out / 'checkpoints').glob('ckpt-*.pt')) == ['ckpt-000000003.pt']

def test_a_checkpoints_folder_alone_is_not_a_run(repo, tmp_path):
    (tmp_path / 'checkpoints').mkdir(); (tmp_path / 'checkpoints' / 'my_model.pt').write_bytes(b'mine')
    one_line_error(run(QUICK + ['--max-steps', '2', '--out', str(tmp_path)]), 'is not empty')

# 2. --out naming a file
def test_out_naming_a_file(repo, tmp_path):
    f = tmp_path / 'afile'; f.write_text('mine')
    one_line_error(run(QUICK + ['--max-steps', '2', '--out', str(f)]), '--out', 'afile', 'not a folder')
    assert f.read_text() == 'mine'

# 3. --task and --device in both commands
def test_train_takes_task_and_device_flags(repo, task_file, tmp_path):
    r = train(['--task', f'{task_file}:Regression', '--device', 'cpu', '--out', tmp_path / 'a', *COMMON])
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / 'a' / 'summary.json').read_text())['device'] == 'cpu'
    one_line_error(train(['--out', tmp_path / 'b', *COMMON]), 'a task')
    one_line_error(train(['poetry', '--task', 'pretrain', '--out', tmp_path / 'c', *COMMON]), 'poetry', 'pretrain')
    one_line_error(train([f'{task_file}:Regression', '--device', 'tpu', '--out', tmp_path / 'd', *COMMON]), '--device')

# 4. a CUDA device on a machine without one
@no_cuda
def test_cuda_without_a_device_is_one_line(repo, task_file, tmp_path):
    for flags in (['--set', 'device=cuda'], ['--device', 'cuda']):
        r = train([f'{task_file}:Regression', *flags, '--out', tmp_path / flags[0], *COMMON])
        one_line_error(r, 'no CUDA device')

# 5. a loss that is not a scalar
def test_per_sample_loss_is_named(repo, task_file, tmp_path):
    r = train([f'{task_file}:PerSample', '--out', tmp_path / 'o', *COMMON])
    one_line_error(r, 'Task.loss', 'scalar', 'shape (64,)')  # the first evaluation: 64 items

# 6. --set names itself
def test_set_typo_names_set(repo, tmp_path):
    r = run(QUICK + ['--set', 'bach_size=3', '--out', str(tmp_path / 'o')])
    one_line_error(r, '--set bach_size=3', 'unknown TrainConfig field')

# 7. no 'global hooks' warning from counting FLOPs on a compiled model
def test_no_global_hooks_warning_when_compiled(repo):
    from perf_opt.amp import TrainStep
    from perf_opt.profiling import FirstStepFlops
    from perf_opt.task import batch_counts
    model = torch.nn.Linear(4, 1)
    loss = lambda m, b: m(b[0]).square().mean()
    step = FirstStepFlops(TrainStep(torch.compile(model, backend='eager'), torch.optim.SGD(model.parameters(), 0.1),
                                    loss), batch_counts)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter('always')
        step([torch.randn(8, 4)]); step([torch.randn(8, 4)])
    assert not [w for w in got if 'global hooks' in str(w.message)], [str(w.message) for w in got]
    assert step.counted() is None  # a compiled model's kernels are not counted

# 8. a module that imports a missing one is not "no module named <itself>"
def test_missing_import_inside_a_module_is_named(repo, tmp_path, monkeypatch):
    from perf_opt.cli import load_task
    from perf_opt.core import ConfigError
    (tmp_path / 'numpyish_tasks.py').write_text('import nump\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="importing numpyish_tasks raised ModuleNotFoundError: No module named 'nump'"):
        load_task('numpyish_tasks:T')
    with pytest.raises(ConfigError, match="no module named 'no_such_tasks_mod'"): load_task('no_such_tasks_mod:T')

# 9. a step the GradScaler skips does not feed the noise scale
def test_skipped_step_does_not_feed_the_noise_scale(repo):
    from perf_opt.task import Task
    from perf_opt.batch_size import NoiseScaleProbe
    model = torch.nn.Linear(3, 1, bias=False)
    step = type('S', (), dict(model=model, accumulate=2, scaler=torch.amp.GradScaler('cpu', enabled=False)))()
    probe = NoiseScaleProbe(Task())
    def feed(*grads):
        model.weight.grad = None
        for g in grads:
            model.weight.grad = torch.tensor([g]) if model.weight.grad is None else model.weight.grad + torch.tensor([g])
            probe.after_backward(step, [torch.zeros(4, 3)])
        probe.before_update(step)
    feed([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    state = probe.state()
    feed([1.0, float('inf'), 3.0], [3.0, 2.0, 1.0])  # inf: GradScaler skips this step
    assert probe.state() == state and probe.value is not None and math.isfinite(probe.value)

# 10. unequal micro-batches: the harmonic mean of their sizes
def test_noise_scale_with_unequal_micro_batches_is_unbiased(repo):
    from perf_opt.stats import effective_batches, noise_scale_terms
    assert effective_batches([2, 14]) == pytest.approx((3.5, 7.0))
    rng, dim, G, sigma2 = np.random.default_rng(0), 50, 1.0, 1.0  # per-sample noise N(0, sigma2 I): tr = dim
    g = np.full(dim, G / np.sqrt(dim))
    small, big = [], []
    for _ in range(4000):
        gi = [g + rng.normal(0, np.sqrt(sigma2 / b), dim) for b in (2, 14)]
        small.append(np.mean([np.sum(x ** 2) for x in gi])); big.append(np.sum(np.mean(gi, 0) ** 2))
    grad_sq, trace = noise_scale_terms(np.mean(small), np.mean(big), *effective_batches([2, 14]))
    assert trace / grad_sq == pytest.approx(dim * sigma2 / G ** 2, rel=0.1)  # the arithmetic mean gave 2.03x

# 11. batch_ramp='noise' that could never measure
def test_noise_ramp_without_micro_batches_is_refused(repo, monkeypatch):
    from perf_opt.core import ConfigError
    from perf_opt.config import TrainConfig
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    with pytest.raises(ConfigError, match='batch_ramp'): TrainConfig(noise_scale=True, batch_ramp='noise').validated()
    TrainConfig(noise_scale=True, batch_ramp='noise', accumulate=2).validated()
    monkeypatch.setenv('WORLD_SIZE', '2')
    TrainConfig(noise_scale=True, batch_ramp='noise').validated()  # the ranks' gradients measure it

# 12. no static graph when a ramp accumulates
def test_static_graph_off_under_a_ramp(repo):
    from perf_opt.config import TrainConfig
    from perf_opt.trainer import static_graph
    task = type('T', (), dict(static_graph=lambda self, cfg: True))()
    assert static_graph(task, TrainConfig())
    assert not static_graph(task, TrainConfig(batch_ramp=[[10, 2]]))
    assert not static_graph(task, TrainConfig(batch_ramp='noise', noise_scale=True))

# 13. the ramp's LR rule moves a schedule's peaks and floors too
def test_scale_schedule_moves_peaks_and_floors(repo):
    from perf_opt.config import TrainConfig
    from perf_opt.batch_size import scale_schedule
    from perf_opt.trainer import make_scheduler
    for name in ('cyclical', 'warmup_cosine', 'polynomial'):
        cfg = TrainConfig(scheduler=name, lr=1e-3, max_steps=80, warmup_steps=0)
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
        sch = make_scheduler(opt, cfg)
        lrs = lambda s: [s.lr_at(b, k) if hasattr(s, 'lr_at') else None for b in s.base_lrs for k in (0, 40, 80)]
        before = lrs(sch)
        scale_schedule(sch, 2.0)
        if name == 'cyclical': assert sch.max_lrs == [2e-3] and sch.base_lrs == [2e-4]
        else: assert lrs(sch) == pytest.approx([2 * v for v in before]), name

# 14. one censored run does not make the interval NaN
def test_ttq_interval_with_a_censored_run(repo):
    from perf_opt.stats import ttq_ratio
    lo, hi = ttq_ratio([100, 110, None, 130, 120], [50, 55, 60, 65, 70])['interval']
    assert not math.isnan(lo) and not math.isnan(hi) and lo <= hi

# 15. time-to-quality runs: parity is by construction, so it is not what the summary compares
def test_ttq_summary_does_not_claim_equal_sequences(repo):
    from perf_opt.report import _parity_lines
    rows = [dict(kind='alone', optimization='x', parity='equivalent', parity_metric='val_cosine', parity_margin=0.01,
                 parity_diff=0.0, parity_lo=-0.001, parity_hi=0.001, repeats=3, time_to_quality_s=10.0)]
    text = '\n'.join(_parity_lines(rows))
    assert 'after the same sequences' not in text and 'time to the target' in text

# 16. FLOPs over the run at each part's precision
def test_flops_are_scaled_to_the_run_and_split_by_precision(repo):
    from perf_opt.bench import BenchConfig, flop_rate
    from perf_opt.config import TrainConfig
    recs = [dict(config='+bf16_rnn', flops_per_seq={'bf16': 3e6, 'fp32': 1e6}, dtype='fp32')]
    bc = BenchConfig('+bf16_rnn', 'alone', TrainConfig.naive(rnn_precision='bf16'), 'bf16_rnn')
    r = flop_rate(recs, recs, bc, 100.0, {'fp32': 1e9, 'bf16': 4e9})
    assert r['gflop_per_s'] == pytest.approx(0.4)
    assert r['peak_share'] == pytest.approx(100 * (3e6 / 4e9 + 1e6 / 1e9))  # seconds at peak per second

def test_flops_follow_the_runs_batches(repo):
    from perf_opt.amp import TrainStep
    from perf_opt.profiling import FirstStepFlops
    from perf_opt.task import batch_counts
    model = torch.nn.GRU(4, 8, batch_first=True)
    loss = lambda m, b: m(b['tokens'])[0].square().mean()
    step = FirstStepFlops(TrainStep(model, torch.optim.SGD(model.parameters(), 0.1), loss), batch_counts)
    for t in (2, 8, 8, 8):  # the first batch is the shortest, as under length warmup
        step(dict(tokens=torch.randn(3, t, 4)))
    c = step.counted()
    first_only = c['flops'] / 3
    assert c['flops_per_seq'] == pytest.approx(first_only * (2 + 8 + 8 + 8) / 4 / 2, rel=1e-6)

# 17. the README's commands leave a clone clean
def test_outputs_are_ignored_by_git(repo):
    for p in ('bench_results/x.csv', 'runs/poetry-optimized/summary.json'):
        assert subprocess.run(['git', 'check-ignore', '-q', p], cwd=repo).returncode == 0, p

# 18. the commit of the package's own source, wherever it is run
def test_code_version_outside_the_repository(repo, tmp_path, monkeypatch):
    from perf_opt.files import code_version
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=repo, capture_output=True, text=True).stdout.strip()
    monkeypatch.chdir(tmp_path)
    v = code_version()
    assert v['commit'] == head and v['version']
