"The trainer under real torchrun jobs: 2 processes with gloo on the CPU, each job bounded by a timeout (a hang fails the test)."
import csv, json, shutil, subprocess, sys, textwrap, time
from pathlib import Path
import psutil, pytest, torch
from perf_opt.async_io import list_checkpoints, load_checkpoint
from perf_opt.distributed import torchrun_command

# a small poetry model in fp32 with teacher forcing always on: no random draw changes the computation, so runs compare exactly
TINY = ['poetry', '--quiet', '--n-lines', '1000', '--set', 'precision=fp32', '--set', 'model.teacher_forcing=1.0',
        '--set', 'model.hidden=64', '--set', 'model.latent=32', '--set', 'batch_size=16', '--set', 'eval_every=0',
        '--set', 'log_every=3', '--set', 'eval_sequences=64']
TIMEOUT = 240

def train(nproc: int, out, *extra, script: str = 'perf_opt_train', **kw) -> subprocess.CompletedProcess:
    "Run `perf_opt_train` (or `script`) alone or under torchrun; a job that outlives TIMEOUT fails the test."
    args = [*TINY, '--out', str(out), *extra]
    cmd = torchrun_command(nproc, args, script) if nproc > 1 else [shutil.which(script) or script, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, **kw)

def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r

def final_model(out) -> dict: return load_checkpoint(Path(out) / 'checkpoints')['model']
def max_diff(a: dict, b: dict) -> float: return max(float((a[k] - b[k]).abs().max()) for k in a)
def losses(out) -> list: return [float(r['loss']) for r in csv.DictReader(open(Path(out) / 'metrics.csv')) if r['loss']]

@pytest.mark.parametrize('extra', [[], ['--set', 'packed=true'], ['--set', 'rnn_precision="bf16"']],
                         ids=['padded', 'packed', 'bf16_rnn'])
def test_two_processes_match_one_process_over_the_same_global_batch(repo, tmp_path, extra):
    # packed: PackedSequence RNN input (lengths to pack_padded_sequence as CPU int64, pad_packed_sequence to the batch's T)
    # 22 batches an epoch: 2 ranks x accumulate 2 and 1 process x accumulate 4 both take 5 full steps and one step of the
    # leftovers (flush) per epoch, over the same 4 (resp. 2) batches of 16; 9 steps cross into the second epoch
    # bf16_rnn: the RNNs in bf16 with fp32 master weights (03); each micro-batch's bf16 math is the same in both runs
    pk = extra
    ok(train(2, tmp_path / 'ddp', '--max-steps', '9', '--set', 'accumulate=2', *pk))
    ok(train(1, tmp_path / 'one', '--max-steps', '9', '--set', 'accumulate=4', *pk))
    s2, s1 = (json.loads((tmp_path / d / 'summary.json').read_text()) for d in ('ddp', 'one'))
    assert (s2['world_size'], s1['world_size']) == (2, 1)
    assert (s2['steps'], s2['epochs'], s2['sequences'], s2['tokens']) == (s1['steps'], s1['epochs'], s1['sequences'], s1['tokens'])
    assert s2['epochs'] == 1  # the first epoch ended (with a flush), the second began
    # same parameters up to float rounding (the all-reduce sums in another order than accumulation): tolerance 1e-5
    assert max_diff(final_model(tmp_path / 'ddp'), final_model(tmp_path / 'one')) < 1e-5
    # the logged loss is the global per-token mean, all-reduced over the ranks
    assert losses(tmp_path / 'ddp') == pytest.approx(losses(tmp_path / 'one'), rel=1e-5)
    # and the comparison can fail: rank 0's share alone (batches 0, 2, 4, ...) gives other weights
    if extra: return
    ok(train(1, tmp_path / 'half', '--max-steps', '9', '--set', 'accumulate=2'))
    assert max_diff(final_model(tmp_path / 'ddp'), final_model(tmp_path / 'half')) > 1e-3

WRITES = '''
import os, sys
from perf_opt import async_io, cli, config, runs, trainer
log = open(os.environ['WRITE_LOG'], 'a')
def logged(fn, what):
    def wrapper(*a, **k):
        log.write(f"{os.environ['RANK']} {what} {a[-1] if what == 'checkpoint' else a[0]}\\n"); log.flush()
        return fn(*a, **k)
    return wrapper
async_io.AsyncCheckpointer.save = logged(async_io.AsyncCheckpointer.save, 'checkpoint')
for m in (config, runs, trainer): m.atomic_write = logged(m.atomic_write, 'file')  # config.json, metrics.csv, the rest
sys.exit(cli.perf_opt_train(sys.argv[1:]))
'''

def test_rank_0_alone_writes_and_a_killed_job_resumes_exactly(repo, tmp_path, monkeypatch):
    script = tmp_path / 'logged_train.py'; script.write_text(WRITES)
    monkeypatch.setenv('WRITE_LOG', str(tmp_path / 'writes.log'))
    steps = ['--max-steps', '24', '--checkpoint-every', '2']
    ok(train(2, tmp_path / 'whole', *steps, script=str(script)))
    writes = [l.split() for l in (tmp_path / 'writes.log').read_text().splitlines()]
    assert {w[0] for w in writes} == {'0'}, writes  # rank 1 wrote nothing
    saved = [int(w[2]) for w in writes if w[1] == 'checkpoint']
    assert saved == sorted(set(saved)) and saved[-1] == 24, saved  # each checkpoint once
    assert {Path(w[2]).name for w in writes if w[1] == 'file'} >= {'config.json', 'metrics.csv', 'summary.json'}
    # the same job, killed with SIGKILL (agent and both workers) once a checkpoint exists, then resumed
    cmd = torchrun_command(2, [*TINY, '--out', str(tmp_path / 'killed'), *steps])
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckdir, t0 = tmp_path / 'killed' / 'checkpoints', time.time()
    while not (ckdir.exists() and list_checkpoints(ckdir)) and job.poll() is None and time.time() - t0 < TIMEOUT: time.sleep(0.02)
    procs = [psutil.Process(job.pid), *psutil.Process(job.pid).children(recursive=True)]
    for p in procs: p.kill()
    job.wait(30)
    killed_at = load_checkpoint(ckdir)['step']
    assert killed_at < 24, 'the job ended before it could be killed'
    ok(train(2, tmp_path / 'killed', *steps, '--resume'))
    assert max_diff(final_model(tmp_path / 'killed'), final_model(tmp_path / 'whole')) < 1e-6
    s = json.loads((tmp_path / 'killed' / 'summary.json').read_text())
    assert (s['steps'], s['world_size']) == (24, 2)
    # resuming with another number of processes is refused in one line
    r = train(1, tmp_path / 'killed', *steps, '--resume')
    assert r.returncode == 2 and 'written by 2 process(es), this run has 1' in r.stderr, r.stderr

@pytest.mark.parametrize('batching', ['bucket', 'token_budget'])
def test_a_dataset_that_does_not_divide_by_the_world_size_finishes(repo, tmp_path, batching):
    # 1200 lines: 27 batches of 16 (odd), padded to 28 so both ranks take 14; two epochs and a half
    r = ok(train(2, tmp_path / batching, '--n-lines', '1200', '--max-steps', '35', '--set', f'batching={batching}'))
    s = json.loads((tmp_path / batching / 'summary.json').read_text())
    assert (s['steps'], s['stopped'], s['world_size']) == (35, 'max_steps', 2) and s['epochs'] >= 2, s

FAILING = '''
import os, sys
from perf_opt.config import preset, apply_sets
from perf_opt.trainer import fit
from perf_opt.poetry import PoetryTask
from torch.distributed.elastic.multiprocessing.errors import record
class Failing(PoetryTask):
    calls = 0
    def loss(self, model, batch):
        self.calls += 1
        if os.environ['RANK'] == '1' and self.calls == 3: raise RuntimeError('rank 1 failed on purpose at micro-batch 3')
        return super().loss(model, batch)
@record
def main(): fit(Failing(), preset('optimized', n_lines=1000, batch_size=16, max_steps=50, eval_every=0), sys.argv[1], progress=False)
main()
'''

def test_a_rank_that_raises_ends_the_job_with_its_error(repo, tmp_path):
    script = tmp_path / 'failing.py'; script.write_text(FAILING)
    t0 = time.time()
    r = subprocess.run(torchrun_command(2, [tmp_path / 'out'], str(script)), capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode != 0
    report = r.stdout + r.stderr
    assert 'rank 1 failed on purpose at micro-batch 3' in report and 'Root Cause' in report, report[-3000:]
    assert 'rank      : 1' in report.split('Root Cause')[1], report[-3000:]  # torchrun names the rank that failed first
    assert not (tmp_path / 'out' / 'summary.json').exists()
