"""Tests of splicer_tutorial.plans: every named plan parses, and the plans share what they should."""

from __future__ import annotations

import pytest

from splicer_tutorial import plans, sweep


@pytest.mark.parametrize("name", list(plans.PLANS))
def test_every_named_plan_parses_with_its_seeds(name: str) -> None:
    plan = plans.PLANS[name]
    runs = sweep.parse_plan(plan.lines(), plan.seeds, source=name)
    assert len({r.out for r in runs}) == len(runs) > 0
    for run in runs:
        values = sweep.run_arguments(run.args)
        assert values["mode"] in ("fast", "full")
        assert f"s{values['seed']}" in run.out  # the seed is in the name, so seeds never share a file


def test_full_plan_puts_the_central_claim_first_and_covers_every_data_set() -> None:
    runs = sweep.parse_plan(plans.PLANS["full"].lines(), (0, 1, 2))
    first = [r.out for r in runs[:12]]
    assert first[:3] == [f"dominoes-simclr-baseline-s{s}.json" for s in range(3)]
    assert {"dominoes-simclr-splicer-s2.json", "dominoes-simclr-cifar_only-s0.json"} <= set(first)
    datasets = {sweep.run_arguments(r.args)["dataset"] for r in runs}
    assert datasets == {"dominoes", "binary_dominoes", "randbits", "channel_toy", "multiplex", "multispectral",
                        "histology", "multiplex_noise"}
    assert all(sweep.run_arguments(r.args)["mode"] == "full" for r in runs)


def test_scale_points_differ_from_the_fast_preset_by_their_knobs() -> None:
    runs = sweep.parse_plan(plans.PLANS["scale"].lines(), (0,))
    assert len(runs) == len(plans.SCALE_POINTS) * (len(plans.SCALE_RUNS) + 1)
    # cropped SpliCER at every point; at the CPU point it is the design study's crop run
    cropped = [r for r in runs if sweep.run_arguments(r.args)["fill"] == "crop"]
    assert len(cropped) == len(plans.SCALE_POINTS)
    assert [r.out for r in cropped if r.out.startswith("design/")] == [
        f"design/dominoes-splicer-crop-{plans.scale_point_name(*plans.CPU_POINT)}-s0.json"]
    assert {r for r in cropped if r.out.startswith("design/")} <= set(sweep.parse_plan(plans.PLANS["design"].lines(), (0,)))
    for run in runs:
        values = sweep.run_arguments(run.args)
        point = (values["epochs"], values["width"], values["resolution"], values["per_class"])
        assert point in plans.SCALE_POINTS and plans.scale_point_name(*point) in run.out
        assert values["mode"] == "fast" and values["method"] == "simclr"


def test_cpu_plan_shares_the_scale_runs_at_its_point() -> None:
    """The reproduction reuses the scale study's results at the same point: same names, same arguments."""
    scale = set(sweep.parse_plan(plans.PLANS["scale"].lines(), (0, 1, 2)))
    cpu = sweep.parse_plan(plans.PLANS["cpu"].lines(), (0, 1, 2))
    shared = [r for r in cpu if r in scale]
    assert len(shared) == 3 * len(plans.SCALE_RUNS)
    assert {sweep.run_arguments(r.args)["method"] for r in cpu} == {"simclr", "vicreg"}
    # every component contender runs zero-filled in scale/ and cropped in design/
    fills = {(r.out.split("/")[0], sweep.run_arguments(r.args)["fill"]) for r in cpu
             if sweep.run_arguments(r.args)["variant"] not in (None, "baseline")}
    assert fills == {("scale", "zero"), ("design", "crop")}
    cropped = [r.out for r in cpu if r.out.startswith("design/") and r.out.endswith("-s0.json")]
    assert cropped == [f"design/dominoes-{'' if m == 'simclr' else m + '-'}{v}-crop-e64-w32-half-n200-s0.json"
                       for m, v in plans.CROPPED_CONTENDERS]


def test_each_design_choice_changes_one_thing_from_splicer() -> None:
    default = sweep.run_arguments(sweep.parse_plan([plans.scale_line("splicer", "--variant splicer",
                                                                     plans.CPU_POINT)], (0,))[0].args)
    for run in sweep.parse_plan(plans.PLANS["design"].lines(), (0,)):
        values = sweep.run_arguments(run.args)
        changed = {k for k in values if values[k] != default[k]}
        assert changed and changed <= {"component_term", "component_temperature", "component_projector", "lam",
                                       "fill", "same_geometry", "no_primary", "projector"}, (run.out, changed)


def test_limits_plan_runs_each_experiment_in_fast_mode_and_closes_the_full_plan() -> None:
    fast = sweep.parse_plan(plans.PLANS["limits"].lines(), (0,))
    assert [r.out for r in fast] == [f"limits/{name}-s0.json" for name in plans.LIMITS]
    values = {r.out: sweep.run_arguments(r.args) for r in fast}
    assert values["limits/dominoes-splicer-s0.json"]["shortcut_probes"]
    assert values["limits/dominoes-separate-s0.json"]["interaction"]
    assert values["limits/dominoes-splicer-random_mask-s0.json"]["random_mask"] == 4
    assert values["limits/dominoes-splicer-left_right-s0.json"]["sections"] == (1, 2)
    full = sweep.parse_plan(plans.PLANS["full"].lines(), (0,))
    assert [r.out for r in full[-len(plans.LIMITS):]] == [f"limits-{name}-s0.json" for name in plans.LIMITS]
    assert sweep.run_arguments(full[-5].args)["random_mask"] == 8  # the same squares at full resolution
