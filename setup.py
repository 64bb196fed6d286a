from packaging.version import Version
from configparser import ConfigParser
import setuptools, shlex
assert Version(setuptools.__version__) >= Version('36.2')

# nbdev 2's setup.py, reading settings.ini; `packaging` replaces the removed `pkg_resources`.
config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o: cfg[o] for o in cfg_keys}

licenses = {
    'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License'),
    'mit': ('MIT License', 'OSI Approved :: MIT License'),
}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable',
            '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12 3.13'.split()

requirements = shlex.split(cfg.get('requirements', ''))
data_requirements = shlex.split(cfg.get('data_requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
fast_requirements = shlex.split(cfg.get('fast_requirements', ''))  # optional engines, e.g. polars for load_glove
tensorboard_requirements = shlex.split(cfg.get('tensorboard_requirements', ''))  # perf_opt_train --tensorboard
ucr_requirements = shlex.split(cfg.get('ucr_requirements', ''))  # --dataset: UCR/UEA sets through aeon (11a)
lic = licenses.get(cfg['license'].lower(), (cfg['license'], None))
min_python = cfg['min_python']
console_scripts = cfg.get('console_scripts', '').split()

setuptools.setup(
    name=cfg['lib_name'],
    license=lic[0],
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title()]
                + ['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(min_python):]]
                + (['License :: ' + lic[1]] if lic[1] else []),
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*']),
    include_package_data=True,
    install_requires=requirements,
    extras_require={'data': data_requirements, 'dev': dev_requirements, 'fast': fast_requirements,
                    'tensorboard': tensorboard_requirements, 'ucr': ucr_requirements,
                    'all': data_requirements + dev_requirements + fast_requirements + tensorboard_requirements
                           + ucr_requirements},
    python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': console_scripts, 'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']},
    **setup_cfg)
