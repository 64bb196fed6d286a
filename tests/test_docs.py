"The docs site: builds without Quarto and renders in a real headless browser."
import html, os, re, shutil, subprocess, tempfile
from pathlib import Path
import pytest

CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']

def chromium():
    exe = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
    if exe is None:
        if os.environ.get('CI'): pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    return exe

def dump_dom(page: Path) -> str:
    "The DOM of `page` after scripts ran, from headless Chromium."
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([chromium(), *CHROMIUM_FLAGS, f'--user-data-dir={profile}', '--dump-dom', page.as_uri()],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout

def text(dom: str) -> str:
    "Visible text of `dom`, tags stripped and entities decoded."
    return html.unescape(re.sub(r'<[^>]+>', '', dom))

def headings(dom: str) -> list:
    return [re.sub(r'<[^>]+>', '', h).strip() for h in re.findall(r'<h[1-3][^>]*>(.*?)</h[1-3]>', dom, re.S)]

@pytest.fixture(scope='module')
def site(repo):
    subprocess.run(['bash', '.ci/docs'], cwd=repo, check=True, timeout=600)
    return repo / '_proc' / '_docs'

def test_quarto_yml_is_shared(repo):
    link = repo / 'nbs' / '_quarto.yml'
    assert link.is_symlink() and os.readlink(link) == '../_quarto.yml'
    assert link.read_text() == (repo / '_quarto.yml').read_text()

def test_home_page_renders(site):
    dom = dump_dom(site / 'index.html')
    hs = headings(dom)
    assert 'perf_opt' in hs and 'Install and run' in hs and 'Measured so far' in hs, hs
    assert 'nbdev_test && pytest' in text(dom)

def test_core_page_renders_api_docs(site):
    dom = dump_dom(site / '00_core.html')
    hs = headings(dom)
    for h in ['core', 'What machine is this?', 'env_report', 'benchmark', 'compare', 'StepBreakdown', 'ConfigError']:
        assert h in hs, (h, hs)
    assert 'Time baseline() and candidate() interleaved (AB BA AB' in text(dom)

NOTEBOOKS = sorted(p for p in (Path(__file__).resolve().parents[1] / 'nbs').glob('[01][0-9]*.ipynb'))

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_page_renders_with_its_api(site, nb):
    "Each notebook's page shows its title and a heading for each symbol its module exports."
    import importlib, json
    cells = json.loads(nb.read_text())['cells']
    title = ''.join(cells[0]['source']).splitlines()[0].lstrip('# ').strip()
    module = re.search(r'#\| default_exp (\w+)', ''.join(''.join(c['source']) for c in cells))  # 15 exports nothing
    public = [] if module is None else [n for n in importlib.import_module(f'perf_opt.{module[1]}').__all__ if not n.isupper()]
    hs = headings(dump_dom(site / f'{nb.stem}.html'))
    assert title in hs, (title, hs[:5])
    missing = [n for n in public if n not in hs]
    assert not missing, f"{nb.name}: no API heading for {missing}"

PROBE = '''<!doctype html><body><iframe id="f" src="index.html" width="1200" height="900"></iframe><script>
f.onload = () => setTimeout(() => {
  const d = f.contentDocument;
  document.body.dataset.images = JSON.stringify([...d.images].map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]));
  document.body.dataset.links = JSON.stringify([...d.querySelectorAll('a[href]')].map(a => a.href));
}, 500);
</script></body>'''

def test_home_page_shows_the_ablation_plot_and_its_links_resolve(site):
    "The front page's first image (the ablation plot) loads, and every link to the site is a page or file of it."
    import functools, http.server, json, threading, urllib.parse
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    probe = site / '_probe.html'
    probe.write_text(PROBE)
    try:
        with tempfile.TemporaryDirectory() as profile:
            r = subprocess.run([chromium(), *CHROMIUM_FLAGS, f'--user-data-dir={profile}', '--virtual-time-budget=10000',
                                '--dump-dom', f'http://127.0.0.1:{server.server_port}/_probe.html'],
                               capture_output=True, text=True, timeout=120)
    finally: server.shutdown(); probe.unlink()
    found = lambda name: json.loads(html.unescape(re.search(rf'data-{name}="([^"]*)"', r.stdout)[1]))
    images, links = found('images'), found('links')
    assert images and 'benchmark_comparison.png' in images[0][0] and images[0][1] and images[0][2] > 0, images
    origin, doc_site = f'http://127.0.0.1:{server.server_port}/', 'https://perf-opt.github.io/perf_opt/'
    def page(path):  # Quarto names a page by its output-file (trainer.html), smalldocs by its notebook (09_trainer.html)
        path = urllib.parse.unquote(path.split('#')[0]) or 'index.html'
        return (site / path).is_file() or any(site.glob(f'[0-9][0-9]*_{path}'))
    broken = [h for h in links if h.startswith((origin, doc_site)) and not page(h.removeprefix(origin).removeprefix(doc_site))]
    broken += [h for h in links if not h.startswith(('http://', 'https://'))]
    assert not broken, broken
    assert any(h.endswith('/12_bench.html') for h in links) and any(h.endswith('/02_dataloader.html') for h in links), links
