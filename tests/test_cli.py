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
    subprocess.run([sys.executable, '-c', 'from nbdev.doclinks import nbdev_export; nbdev_export.__wrapped__()'], cwd=dst, check=True)
    for f in sorted((repo / 'perf_opt').glob('*.py')):
        assert filecmp.cmp(f, dst / 'perf_opt' / f.name, shallow=False), f"perf_opt/{f.name} differs from nbdev_export output: run nbdev_export"
    assert {f.name for f in (dst / 'perf_opt').glob('*.py')} == {f.name for f in (repo / 'perf_opt').glob('*.py')}
