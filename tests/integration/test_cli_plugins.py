"""``celeriac`` finds commands of other packages through the ``celeriac.commands`` entry
points (how ``celeriac operator`` arrives without the runtime importing the operator).

Real distributions: a ``*.dist-info`` with ``entry_points.txt`` on the subprocess's path,
as pip would install it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _install_plugin(site: Path, *, body: str, entry: str) -> None:
    (site / "celeriac_demo_plugin.py").write_text(body)
    info = site / "celeriac_demo_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: celeriac-demo-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[celeriac.commands]\n{entry}\n")


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT / "runtime")]))
    return subprocess.run([sys.executable, "-m", "celeriac.cli", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_plugin_command_runs_and_is_listed(tmp_path: Path) -> None:
    _install_plugin(tmp_path, entry="hello = celeriac_demo_plugin:hello", body=(
        "import click\n\n@click.command()\n@click.option('--who', default='world')\n"
        "def hello(who):\n    '''Say hello.'''\n    click.echo(f'hello {who}')\n"))
    ran = _run(tmp_path, "hello", "--who", "celeriac")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "hello celeriac"
    listed = _run(tmp_path, "--help")
    assert listed.returncode == 0, listed.stderr
    assert "hello" in listed.stdout and "worker" in listed.stdout


def test_a_plugin_that_cannot_load_says_why_and_the_rest_still_works(tmp_path: Path) -> None:
    _install_plugin(tmp_path, entry="broken = celeriac_demo_plugin:cmd",
                    body="import celeriac_no_such_module_anywhere\n")
    ran = _run(tmp_path, "broken", "--anything")
    assert ran.returncode == 1
    assert "cannot be loaded" in ran.stderr and "celeriac_no_such_module_anywhere" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert _run(tmp_path, "--help").returncode == 0
    assert "celeriac_demo_plugin" not in sys.modules


def test_the_runtime_never_imports_a_plugin_it_does_not_run(tmp_path: Path) -> None:
    _install_plugin(tmp_path, entry="boom = celeriac_demo_plugin:cmd",
                    body="raise SystemExit('imported although not run')\n")
    ran = _run(tmp_path, "queues", "--help")
    assert ran.returncode == 0, ran.stderr
