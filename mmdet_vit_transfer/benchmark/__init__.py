"""The benchmark as one command (``tools/benchmark.py``): what runs
(:mod:`.plan`), where (:mod:`.backends`, :mod:`.jobs`), what is known of
it (:mod:`.state`, :mod:`.lock`, :mod:`.workdir`), following it
(:mod:`.launcher`, :mod:`.progress`, :mod:`.status`) and its results
(:mod:`.results`)."""
from .backends import LocalBackend, SlurmBackend
from .launcher import LaunchResult, launch
from .plan import CONFIG_ROOT, RunPlan, grid_configs, plan_runs
from .results import write_results
from .status import status_lines
from .workdir import BenchmarkDir

__all__ = [
    'BenchmarkDir', 'CONFIG_ROOT', 'LaunchResult', 'LocalBackend',
    'RunPlan', 'SlurmBackend', 'grid_configs', 'launch', 'plan_runs',
    'status_lines', 'write_results'
]
