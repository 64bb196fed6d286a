"AsyncCheckpointer under real failures, in subprocesses: SIGKILL in the middle of a write, and a write that hits a size limit."
import errno, re, signal, subprocess, sys, time
import torch
from perf_opt.async_io import AsyncCheckpointer

WRITER = '''
import sys, torch
from perf_opt.async_io import AsyncCheckpointer
ck = AsyncCheckpointer(sys.argv[1], keep_last=3)
ck.save({'w': torch.ones(4), 'step': 1}, 1); ck.wait()
print('first done', flush=True)
big = {'w': torch.randn(25_000_000)}  # 100 MB: each write takes long enough to be interrupted
for step in range(2, 10_000):
    big['step'] = step
    ck.save(big, step)
'''

def _step(name): return int(re.search(r'ckpt-(\d+)', name)[1])

def test_sigkill_mid_write_leaves_previous_checkpoint(tmp_path):
    p = subprocess.Popen([sys.executable, '-c', WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == 'first done'
        deadline = time.time() + 120
        while not list(tmp_path.glob('.ckpt-*.tmp')) or len(list(tmp_path.glob('ckpt-*.pt'))) < 2:
            assert p.poll() is None and time.time() < deadline, "writer exited or never started a second write"
            time.sleep(0.002)
    finally:
        p.send_signal(signal.SIGKILL); p.wait()
    partial = sorted(tmp_path.glob('.ckpt-*.tmp'))
    ck = AsyncCheckpointer(tmp_path)
    assert not list(tmp_path.glob('.*.tmp')), "a new checkpointer removes partial writes"
    latest = ck.latest()
    state = torch.load(latest, weights_only=False)
    assert state['step'] == _step(latest.name)
    if partial: assert _step(latest.name) == _step(partial[-1].name) - 1, (latest, partial)
    if state['step'] > 1: assert state['w'].shape == (25_000_000,)

FULL_DISK = '''
import resource, signal, sys, torch
from perf_opt.async_io import AsyncCheckpointer
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
ck = AsyncCheckpointer(sys.argv[1])
ck.save({'w': torch.ones(10)}, 1); ck.wait()
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))  # files may not grow past 1 MB: like a full disk
ck.save({'w': torch.randn(1_000_000)}, 2)  # 4 MB: fails in the background thread
try: ck.save({'w': torch.ones(10)}, 3)
except Exception as e:  # torch's zip writer re-raises the OSError as a RuntimeError: report the whole chain
    chain, x = [], e
    while x is not None: chain.append(getattr(x, 'errno', None)); x = x.__cause__ or x.__context__
    print('raised', type(e).__name__, chain, flush=True)
else: print('not raised', flush=True)
print('latest', ck.latest().name, flush=True)
'''

def test_failed_background_write_raises_on_next_save(tmp_path):
    out = subprocess.run([sys.executable, '-c', FULL_DISK, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    raised = [l for l in out.stdout.splitlines() if l.startswith('raised')]
    assert raised and str(errno.EFBIG) in raised[0], out.stdout  # EFBIG: 'File too large', somewhere in the chain
    assert 'latest ckpt-000000001.pt' in out.stdout, out.stdout
    assert not list(tmp_path.glob('.*.tmp')), "the failed write's temp file is removed"
