"The review's repairs (issue 31): each test failed before its fix; CUDA-only ones skip without a GPU."
import json, os, signal, stat, subprocess, sys, threading, time, types
from pathlib import Path
import pytest
import torch
from test_trainer import QUICK, exe, run, wait_for

two_gpus = pytest.mark.skipif(torch.cuda.device_count() < 2, reason='needs two CUDA devices')

def ckpt_state(out: Path) -> dict:
    cks = sorted((out / 'checkpoints').glob('ckpt-*.pt'))
    return torch.load(cks[-1], weights_only=True)

# 1. --config applies the fields it names on top of the preset
def test_config_file_keeps_the_preset(repo, tmp_path):
    from perf_opt.config import config_from_args, train_parser
    (tmp_path / 'partial.json').write_text(json.dumps({'lr': 0.005}))
    cfg = config_from_args(train_parser().parse_args(['poetry', '--preset', 'naive', '--config', str(tmp_path / 'partial.json')]))
    assert (cfg.lr, cfg.batching, cfg.token_cache, cfg.log_every) == (0.005, 'pad_global', False, 1)

def test_config_file_errors_name_the_file(repo, tmp_path):
    (tmp_path / 'bad.json').write_text(json.dumps({'lr': -1}))
    r = run(['poetry', '--config', str(tmp_path / 'bad.json')])
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'bad.json' in r.stderr and 'lr' in r.stderr, r.stderr

# 2. --out refuses a folder that holds anything unless --overwrite
def test_out_refuses_a_folder_that_holds_a_run(repo, tmp_path):
    out = tmp_path / 'old'; out.mkdir()
    (out / 'summary.json').write_text('{"old": 1}')  # a finished run whose checkpoints were deleted
    r = run(QUICK + ['--max-steps', '2', '--out', str(out)])
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and '--overwrite' in r.stderr and str(out) in r.stderr, r.stderr
    assert (out / 'summary.json').read_text() == '{"old": 1}' and sorted(p.name for p in out.iterdir()) == ['summary.json']
    r = run(QUICK + ['--max-steps', '2', '--out', str(out), '--overwrite'])
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((out / 'summary.json').read_text())['steps'] == 2

def test_out_refuses_a_folder_of_other_files(repo, tmp_path):
    (tmp_path / 'notes.txt').write_text('mine')
    r = run(QUICK + ['--max-steps', '2', '--out', str(tmp_path)])
    assert r.returncode == 2 and 'notes.txt' in r.stderr and r.stderr.count('\n') == 1, r.stderr

# 3. SIGTERM to the whole process group, with DataLoader workers
def test_sigterm_to_the_process_group_with_workers_checkpoints(repo, tmp_path):
    out = tmp_path / 'r'
    args = [exe(), *QUICK, '--set', 'num_workers=2', '--max-steps', '100000', '--out', str(out)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: (out / 'metrics.csv').exists() and (out / 'metrics.csv').read_text().count('\n') >= 3, p)
    os.killpg(p.pid, signal.SIGTERM)  # as torchrun and SLURM stop a job: the main process and its workers
    assert p.wait(timeout=120) == 0, p.stderr.read()[-2000:]
    s = json.loads((out / 'summary.json').read_text())
    assert s['stopped'] == 'signal SIGTERM' and (out / 'checkpoints' / f"ckpt-{s['steps']:09d}.pt").exists()

def test_a_second_signal_stops_at_once(repo):
    from perf_opt.runs import stop_on_signals
    with pytest.raises(KeyboardInterrupt):
        with stop_on_signals() as got:
            os.kill(os.getpid(), signal.SIGTERM); time.sleep(0.05)
            assert got == ['SIGTERM']
            os.kill(os.getpid(), signal.SIGTERM); time.sleep(0.05)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

def test_loader_workers_ignore_stop_signals(repo):
    from perf_opt.runs import ignore_stop_signals
    old = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        ignore_stop_signals(0)
        assert signal.getsignal(signal.SIGTERM) == signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally: signal.signal(signal.SIGTERM, old); signal.signal(signal.SIGINT, signal.default_int_handler)

# 4. a step-based schedule's horizon is max_steps: changing it on resume is refused
def test_resume_with_another_max_steps_and_a_schedule_is_refused(repo, tmp_path):
    args = QUICK + ['--set', 'scheduler="warmup_cosine"', '--out', str(tmp_path / 'r')]
    assert run(args + ['--max-steps', '10']).returncode == 0
    r = run(args + ['--max-steps', '20', '--resume'])
    assert r.returncode == 2 and 'max_steps=20' in r.stderr and 'warmup_cosine' in r.stderr and r.stderr.count('\n') == 1, r.stderr
    r = run(QUICK + ['--set', 'scheduler=null', '--out', str(tmp_path / 'c'), '--max-steps', '10'])
    assert r.returncode == 0
    r = run(QUICK + ['--set', 'scheduler=null', '--out', str(tmp_path / 'c'), '--max-steps', '15', '--resume'])
    assert r.returncode == 0 and json.loads((tmp_path / 'c' / 'summary.json').read_text())['steps'] == 15, r.stderr

# 5. the last checkpoint holds what the final evaluation changed (the best), and it stepped no scheduler
def test_last_checkpoint_agrees_with_the_final_evaluation(repo, tmp_path):
    out = tmp_path / 'r'
    r = run(QUICK + ['--max-steps', '30', '--checkpoint-every', '30', '--set', 'scheduler="adaptive"', '--out', str(out)])
    assert r.returncode == 0, r.stderr[-2000:]  # evaluations at 0 and 20 (eval_every=20); the final one at 30
    s, state = json.loads((out / 'summary.json').read_text()), ckpt_state(out)
    st = state['extra']['run']
    assert state['step'] == 30 and (st['best'], st['best_step']) == (s['best']['value'], s['best']['step'])
    assert 'val_cosine' in s['final_eval'] and state['scheduler']['last_epoch'] == 2  # the final one stepped no plateau LR
    best = torch.load(out / 'best.pt', weights_only=True)
    assert all(torch.equal(best[k], v) for k, v in state['model'].items()) == (s['best']['step'] == 30)

# 6. per-batch randomness from (seed, epoch, batch): exact resume whatever the workers
def test_masks_come_from_the_batch_not_the_process(repo):
    import numpy as np
    from perf_opt.bucketing import BucketingSampler
    from perf_opt.pretraining import PretrainOptions, PretrainTask, WindowBatches, WindowItems
    task = PretrainTask()
    w = task.windows(PretrainOptions())
    s = BucketingSampler(np.full(len(w.starts['train']), 10), 8, seed=3)
    b = next(iter(s))
    for cls in (WindowBatches, WindowItems):
        ds = cls(w, 'train')
        torch.manual_seed(0); m1 = ds.__getitems__(b)
        torch.manual_seed(1); m2 = ds.__getitems__(b)
        m1, m2 = (m if isinstance(m, dict) else torch.utils.data.default_collate(m) for m in (m1, m2))
        assert torch.equal(m1['mask'], m2['mask']) and torch.equal(m1['x'], m2['x'])
    s.set_epoch(1)
    assert not torch.equal(WindowBatches(w, 'train').__getitems__(next(iter(s)))['mask'], m1['mask'])

def test_pretrain_resume_is_exact_when_the_worker_count_changes(repo, tmp_path):
    pre = ['pretrain', '--set', 'model.hidden=16', '--set', 'model.layers=1', '--set', 'batch_size=32', '--set', 'eval_every=0',
           '--set', 'eval_sequences=64', '--quiet', '--preset', 'default', '--set', 'scheduler=null']
    a = run(pre + ['--max-steps', '12', '--out', str(tmp_path / 'a'), '--set', 'num_workers=0'])
    assert a.returncode == 0, a.stderr[-2000:]
    b = run(pre + ['--max-steps', '6', '--out', str(tmp_path / 'b'), '--set', 'num_workers=0'])
    assert b.returncode == 0, b.stderr[-2000:]
    b = run(pre + ['--max-steps', '12', '--out', str(tmp_path / 'b'), '--set', 'num_workers=2', '--resume'])
    assert b.returncode == 0, b.stderr[-2000:]
    pa, pb = ckpt_state(tmp_path / 'a')['model'], ckpt_state(tmp_path / 'b')['model']
    assert all(torch.equal(pa[k], pb[k]) for k in pa)

# 7. rank 0 alone removes partial checkpoint writes, and a vanished one is no error
def test_only_the_cleaning_rank_removes_partial_writes(tmp_path):
    from perf_opt.async_io import AsyncCheckpointer
    (tmp_path / '.ckpt-000000003.pt.x.tmp').write_bytes(b'partial')
    AsyncCheckpointer(tmp_path, clean=False).close()
    assert (tmp_path / '.ckpt-000000003.pt.x.tmp').exists()
    real_glob = Path.glob
    def racing_glob(self, pattern):  # another rank removed the file between the listing and the unlink
        found = list(real_glob(self, pattern))
        for p in found: p.unlink()
        return found
    Path.glob = racing_glob
    try: AsyncCheckpointer(tmp_path).close()
    finally: Path.glob = real_glob
    assert not (tmp_path / '.ckpt-000000003.pt.x.tmp').exists()

# 8. one process on a second GPU: the device is made current; snapshots use the tensors' device
def test_single_process_on_cuda_n_sets_the_device(monkeypatch):
    from perf_opt import trainer
    seen = []
    monkeypatch.setattr(torch.cuda, 'set_device', seen.append)
    g = trainer.SingleProcess('cuda:1')
    assert seen == [torch.device('cuda', 1)] and g.device == torch.device('cuda', 1)
    trainer.SingleProcess('cpu')
    assert len(seen) == 1

@two_gpus
def test_snapshot_on_the_second_gpu_is_not_stale():
    from perf_opt.async_io import PinnedSnapshotter
    dev = torch.device('cuda', 1)
    x = torch.zeros(2**24, device=dev)
    with torch.cuda.device(0):  # the current device is another one than the tensors'
        snap, event = PinnedSnapshotter()(dict(x=x))
        x.add_(1)  # queued on cuda:1's stream after the copy
        event.synchronize()
    assert snap['x'].sum().item() == 0

# 9. the training device's CUDA RNG state, not every visible GPU's
def test_rng_state_saves_and_restores_the_training_device(monkeypatch):
    from perf_opt import async_io
    got, put = [], []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_rng_state', lambda device='cuda': got.append(device) or torch.tensor([7], dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, 'set_rng_state', lambda state, device='cuda': put.append((state.tolist(), device)))
    monkeypatch.setattr(torch.cuda, 'get_rng_state_all', lambda: pytest.fail('saved every GPU'))
    s = async_io.rng_state(torch.device('cuda', 1))
    assert got == [torch.device('cuda', 1)] and s['cuda'].tolist() == [7]
    async_io.set_rng_state(s, torch.device('cuda', 2))  # resumed where CUDA_VISIBLE_DEVICES numbers it 2
    assert put == [([7], torch.device('cuda', 2))]
    assert async_io.rng_state(torch.device('cpu'))['cuda'] is None

# 10. the GPU monitor watches the training device by UUID, and shuts NVML down
def test_gpu_monitor_follows_the_training_device_by_uuid(monkeypatch):
    from perf_opt import profiling
    calls = []
    class NVMLError(Exception): pass
    nv = types.SimpleNamespace(NVMLError=NVMLError, NVMLError_LibraryNotFound=type('NF', (NVMLError,), {}),
                               NVMLError_NotSupported=type('NS', (NVMLError,), {}), NVML_TEMPERATURE_GPU=0,
                               nvmlInit=lambda: calls.append('init'), nvmlShutdown=lambda: calls.append('shutdown'),
                               nvmlDeviceGetCount=lambda: 4,
                               nvmlDeviceGetHandleByUUID=lambda u: calls.append(('uuid', u)) or 'h3',
                               nvmlDeviceGetHandleByIndex=lambda i: pytest.fail('looked up by NVML index'),
                               nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=50 if h == 'h3' else -1),
                               nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=2**20, total=2**21),
                               nvmlDeviceGetPowerUsage=lambda h: 1000, nvmlDeviceGetTemperature=lambda h, k: 40)
    monkeypatch.setitem(sys.modules, 'pynvml', nv)
    monkeypatch.setattr(profiling, '_device_uuid', lambda d: 'GPU-1234' if d == torch.device('cuda', 0) else None)
    m = profiling.GPUMonitor(0.01, device=torch.device('cuda', 0))
    assert m._sample()['gpu0_util_percent'] == 50 and ('uuid', b'GPU-1234') in calls
    m.start(); time.sleep(0.05); stats = m.stop()
    assert stats['gpu'] and calls.count('init') == calls.count('shutdown') == 1

# 11. files written atomically honour the umask
def test_atomic_write_honours_the_umask(tmp_path):
    from perf_opt.files import atomic_write
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / 'a.json', 'w') as f: f.write('{}')
    finally: os.umask(old)
    assert stat.S_IMODE((tmp_path / 'a.json').stat().st_mode) == 0o644

# 12. the torch floor is the one the weights_only claim and GradScaler need
def test_torch_floor_covers_the_weights_only_fix(repo):
    from packaging.requirements import Requirement
    from packaging.version import Version
    import configparser
    c = configparser.ConfigParser(delimiters=['=']); c.read(repo / 'settings.ini')
    torch_req = next(Requirement(r) for r in c['DEFAULT']['requirements'].split() if r.startswith('torch'))
    floor = min(Version(s.version) for s in torch_req.specifier if s.operator == '>=')
    assert floor >= Version('2.6'), torch_req  # CVE-2025-32434: weights_only=True is safe from torch 2.6
    assert '2.6' in (repo / 'nbs' / '06_async_io.ipynb').read_text()

# Also: fit closes what it opened when it raises; no `resource` at import (Windows)
def test_fit_closes_the_monitor_and_log_when_it_raises(repo, tmp_path):
    from perf_opt.config import TrainConfig
    from perf_opt.trainer import fit
    from perf_opt.poetry import PoetryTask
    class Failing(PoetryTask):
        def loss(self, model, batch):
            self.calls = getattr(self, 'calls', 0) + 1
            if self.calls > 3: raise RuntimeError('boom')
            return super().loss(model, batch)
    cfg = TrainConfig(n_lines=3000, batch_size=16, model=dict(hidden=32, latent=16), eval_every=0, monitor=True, max_steps=10)
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match='boom'): fit(Failing(), cfg, tmp_path / 'r', progress=False)
    time.sleep(0.2)
    assert not [t for t in set(threading.enumerate()) - before if 'gpumonitor' in t.name or 'writer' in t.name]
    import gc; gc.collect()
    opened = [p for p in Path(f'/proc/{os.getpid()}/fd').iterdir() if 'train.log' in os.path.realpath(p)]
    assert not opened

def test_no_module_imports_resource_at_the_top(repo):
    "`resource` is POSIX-only: a module importing it at load time cannot be imported on Windows."
    import ast
    for path in (repo / 'perf_opt').glob('*.py'):
        for node in ast.parse(path.read_text()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) else []
            assert 'resource' not in names, f"{path.name}:{node.lineno} imports resource at the top"

def test_a_config_error_leaves_no_run_behind(repo, tmp_path):
    "A bad model option is found before anything is written: the folder stays usable for the corrected command."
    out = tmp_path / 'r'
    r = run(QUICK + ['--max-steps', '2', '--set', 'model.decoder_input="none"', '--out', str(out)])
    assert r.returncode == 2 and 'decoder_input' in r.stderr and r.stderr.count('\n') == 1, r.stderr
    assert not out.exists() or not any(out.iterdir()), list(out.rglob('*'))
    assert run(QUICK + ['--max-steps', '2', '--out', str(out)]).returncode == 0

def test_a_run_that_raises_with_workers_exits(repo, tmp_path):
    "Workers ignore SIGTERM, so the training process must stop them itself: a run that raises still exits (no hang at exit)."
    code = f"""
from perf_opt.config import TrainConfig
from perf_opt.trainer import fit
from perf_opt.poetry import PoetryTask
class Failing(PoetryTask):
    n = 0
    def loss(self, model, batch):
        Failing.n += 1
        if Failing.n > 3: raise RuntimeError('boom')
        return super().loss(model, batch)
cfg = TrainConfig(n_lines=3000, batch_size=16, model=dict(hidden=32, latent=16), eval_every=0, num_workers=2, max_steps=10)
fit(Failing(), cfg, {str(tmp_path / 'r')!r}, progress=False)
"""
    p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try: rc = p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); pytest.fail('the process hung at exit: its DataLoader workers were never stopped')
    assert rc == 1 and 'boom' in p.stderr.read()
