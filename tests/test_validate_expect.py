"""`bnbench validate` says what each run gets and how long the session should take, before anything trains."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()


def lines(output: str) -> list[str]:
    return [" ".join(line.split()) for line in output.splitlines()]


def test_validate_expects_the_time_earlier_results_took(tiny_scenario, tmp_path, monkeypatch):
    # An earlier session of 'tiny' in reports/tiny/: control 4 steps in 2.0 s (0.5 s a step), bn 4 steps in 4.0 s
    # (1.0 s a step); a crashed run does not count. The scenario's 4 runs of 4 steps: 2 x 2.0 + 2 x 4.0 = 12.0 s
    # of run time, one at a time (one worker): 12.0 s elapsed.
    monkeypatch.chdir(tmp_path)
    earlier = Path("reports") / "tiny" / "20260101-120000"
    earlier.mkdir(parents=True)
    (earlier / "runs.csv").write_text("run_id,variant,seed,status,steps,wall_s\ncontrol-s0,control,0,completed,4,2.0\n"
                                      "bn-s0,bn,0,completed,4,4.0\nbn-s1,bn,1,failed,1,99.0\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(tiny_scenario)])
    assert result.exit_code == 0, result.output
    assert "each run gets: cpu, 1 thread (1 at a time)" in lines(result.output)
    assert (f"expected duration: about 12.0 s elapsed (4 runs, about 12.0 s of run time, 1 at a time; from the "
            f"seconds a step took in {earlier})") in lines(result.output)
    assert 'norm="batch", decay=0.9' in result.output  # overrides as the scenario file spells them
    # plan without a pilot points at those results, and prices a pilot from them: 3 seeds x 4 steps (two
    # evaluations of 2 steps) x (0.5 + 1.0) s a step = 18.0 s, one run at a time.
    result = runner.invoke(app, ["plan", str(tiny_scenario)])
    assert result.exit_code == 2
    assert (f"plan needs a pilot: --pilot {earlier} (the newest results of this scenario), or --pilot-steps 4 for a "
            f"short pilot now: 6 runs of 4 steps (3 seeds of 2 variants) on cpu, about 18.0 s (the seconds a step "
            f"took in {earlier})") in " ".join(result.output.split())


def test_validate_bounds_the_time_by_max_wall_s_or_says_it_is_unknown(tiny_scenario, tmp_path, monkeypatch):
    # No earlier results here. max_wall_s 90 s a run, 4 runs one at a time: at most 360 s = 6.0 min.
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", str(tiny_scenario), "--set", "train.max_wall_s=90"])
    assert result.exit_code == 0, result.output
    assert ("expected duration: at most 6.0 min elapsed (4 runs, at most 6.0 min of run time, 1 at a time; from "
            "max_wall_s)") in lines(result.output)
    result = runner.invoke(app, ["validate", str(tiny_scenario)])
    assert (f"expected duration: unknown (4 runs; no earlier results of 'tiny' in {Path('reports') / 'tiny'} and no "
            f"max_wall_s); `bnbench plan {tiny_scenario} --pilot-steps N` measures a short pilot") in lines(
        result.output)


def test_validate_warns_as_run_does_when_threads_exceed_a_slot_s_cores(tiny_scenario, tmp_path, monkeypatch):
    # Two workers on two usable cores own one core each: threads = 2 gets 1, which `run` warns about; validate,
    # which showed '1 thread' without a word, now says it too.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("bnbench.commands.expect.usable_core_count", lambda: 2)
    result = runner.invoke(app, ["validate", str(tiny_scenario), "--set", "scenario.workers=2", "--set",
                                 "train.threads=2"])
    assert result.exit_code == 0, result.output
    assert "each run gets: cpu, 1 thread (2 at a time)" in lines(result.output)
    assert ("warning: threads = 2 is more than the 1 core each run's slot owns; runs use 1 (set threads = 1 or "
            "fewer, or run fewer workers at once)") in lines(result.output)
    result = runner.invoke(app, ["validate", str(tiny_scenario), "--set", "scenario.workers=2", "--set",
                                 "train.threads=1"])
    assert "warning" not in result.output


def test_validate_s_title_sits_on_the_left_in_a_terminal_as_compare_s_does(tiny_scenario, tmp_path, monkeypatch):
    # In an 80-column terminal rich centred the title ('                tiny: 4 runs'); piped it sat on the left.
    import io

    from rich.console import Console

    from bnbench.commands.run import print_matrix
    from bnbench.scenario import load

    monkeypatch.chdir(tmp_path)
    screen = io.StringIO()
    print_matrix(load(tiny_scenario), Console(file=screen, force_terminal=True, width=80, color_system=None))
    assert screen.getvalue().splitlines()[0].rstrip() == "tiny: 4 runs", screen.getvalue()


def test_validate_does_not_promise_a_command_a_short_pilot(tmp_path, monkeypatch):
    # --pilot-steps N sets max_steps, which a command never reads: its pilot is 3 full runs of each command.
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "own.toml"
    path.write_text('[scenario]\nname = "own"\nseeds = [0]\ndevice = "cpu"\n[task]\nname = "command"\n'
                    'metric = "acc"\nhigher_is_better = true\ncommand = ["true"]\n', encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert (f"expected duration: unknown (1 run; no earlier results of 'own' in {Path('reports') / 'own'} and no "
            f"max_wall_s); `bnbench plan {path} --pilot-steps N` measures a pilot of 3 seeds (a command runs to its "
            "own end)") in lines(result.output), result.output
