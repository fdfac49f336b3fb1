"""``vista --version [--verbose]``, ``--quiet``/``--verbose`` and shell completion."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from vista import __version__
from vista.cli import cli


def test_version_and_dependency_versions() -> None:
    plain = CliRunner().invoke(cli, ["--version"])
    assert plain.exit_code == 0 and plain.output.strip() == f"vista {__version__}"
    for args in (["--version", "--verbose"], ["-v", "--version"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
        names = [line.split()[0] for line in res.output.splitlines()[1:]]
        assert {"torch", "transformers", "eyelinkio", "sr-research-pylink"} <= set(names)


def test_quiet_silences_output_but_not_errors(tmp_path) -> None:
    out = tmp_path / "a.csv"
    loud = CliRunner().invoke(cli, ["areas", str(tmp_path), "--out", str(out)])
    assert loud.exit_code != 0 and "not a session folder" in loud.output
    quiet = CliRunner().invoke(cli, ["--quiet", "areas", str(tmp_path), "--out", str(out)])
    assert quiet.exit_code != 0 and "not a session folder" in quiet.output
    both = CliRunner().invoke(cli, ["-q", "-v", "areas", str(tmp_path)])
    assert both.exit_code == 2 and "exclude each other" in both.output


def test_quiet_prints_nothing_on_success(tmp_path) -> None:
    from vista.gaze.asc_writer import AscWriter

    asc = tmp_path / "r.asc"
    with AscWriter(asc) as w:
        w.start(0, eyes="R", rate_hz=1000)
        w.message(1, "!V IAREA RECTANGLE 1 0 0 10 10 box")
        w.fixation("R", 5, 200, 5.0, 5.0, 900)
        w.end(300)
    loud = CliRunner().invoke(cli, ["areas", str(asc)])
    assert loud.exit_code == 0 and "box" in loud.output
    quiet = CliRunner().invoke(cli, ["--quiet", "areas", str(asc)])
    assert quiet.exit_code == 0 and quiet.output == ""


def test_bash_completion_script() -> None:
    env = dict(os.environ, _VISTA_COMPLETE="bash_source")
    res = subprocess.run([sys.executable, "-c", "from vista.cli import main; main()"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert "complete" in res.stdout and "_VISTA_COMPLETE" in res.stdout


def test_verbosity_reaches_the_command() -> None:
    import click

    from vista.cli._options import verbosity

    seen: list[int] = []

    @cli.command("probe-verbosity")
    def probe() -> None:
        seen.append(verbosity())

    try:
        for args, want in (([], 0), (["-q"], -1), (["-v"], 1)):
            res = CliRunner().invoke(cli, [*args, "probe-verbosity"])
            assert res.exit_code == 0, res.output
            assert seen[-1] == want
    finally:
        cli.commands.pop("probe-verbosity")
    assert verbosity() == 0 and click.get_current_context(silent=True) is None
