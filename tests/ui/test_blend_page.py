"""The Blend page, and blend runs in History, through Streamlit's AppTest on builtin:tiny."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from db import Store, get_run, list_runs
from studio.blend.tree import auto_tree
from studio.errors import PromptListError
from studio.spec import BlendKeyframe
from studio.spec.prompt_list import format_prompt_lines, parse_prompt_lines
from tests.support.dashboard import APP, TIMEOUT


@pytest.fixture
def page(studio_home) -> AppTest:
    """The dashboard on the Blend page, with a fresh STUDIO_HOME."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return blend_page(at)


# A render on a busy CPU (the first also builds builtin:tiny) may take longer than a page run.
JOB_TIMEOUT = 600
PROMPTS = "a red circle\n[seed=9] a blue square\na green star | negative: blur"


def blend_page(at: AppTest) -> AppTest:
    at.switch_page("pages/blend.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Blend"
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def small_blend(at: AppTest, steps: int = 3) -> None:
    """builtin:tiny at 64 px: three prompts, three diffusion frames per transition."""
    at.selectbox(key="sidebar.model").set_value("builtin:tiny").run()
    at.text_area(key="blend.prompts").set_value(PROMPTS)
    at.number_input(key="blend.steps").set_value(steps)
    at.number_input(key="blend.guidance").set_value(1.0)
    at.number_input(key="blend.width").set_value(64)
    at.number_input(key="blend.height").set_value(64)
    at.radio(key="blend.setup").set_value("auto").run()
    at.number_input(key="blend.frames").set_value(3)
    at.selectbox(key="blend.fill").set_value("none")
    at.run()
    assert not at.exception, at.exception


def render(at: AppTest):
    from ui.resources import get_jobs

    at.button(key="blend.render").click().run()
    assert not at.exception, at.exception
    job = get_jobs().get(at.session_state["blend.job"])
    assert job.wait(JOB_TIMEOUT), "render did not finish"
    at.run()
    return job


def test_prompt_lines_read_seeds_and_negatives_and_round_trip():
    keys = parse_prompt_lines("# comment\n\n" + PROMPTS + "\nan owl | negative:")
    assert keys == (
        BlendKeyframe("a red circle"),
        BlendKeyframe("a blue square", seed=9),
        BlendKeyframe("a green star", negative="blur"),
        BlendKeyframe("an owl", negative=""),
    )
    assert parse_prompt_lines(format_prompt_lines(keys)) == keys


def test_prompt_line_errors_name_line_and_column():
    for text, where, what in [
        ("a cat\n  [seed=4 a dog", "line 2, column 3", "never closed"),
        ("a cat\n[steps=4] a dog", "line 2, column 2", "unknown option"),
        ("a cat\n[seed=3]  | negative: x", "line 2, column 9", "the prompt is empty"),
    ]:
        try:
            parse_prompt_lines(text)
        except PromptListError as exc:
            assert where in str(exc) and what in str(exc), str(exc)
        else:
            raise AssertionError(f"{text!r} was read")


def test_blend_page_shows_the_plan_before_rendering(page):
    at = page
    at.text_area(key="blend.prompts").set_value(PROMPTS)
    at.number_input(key="blend.steps").set_value(10)
    at.radio(key="blend.setup").set_value("auto").run()
    at.number_input(key="blend.frames").set_value(5).run()
    assert not at.exception, at.exception
    shown = metrics(at)
    # 3 prompts, 5 diffusion frames per transition, joins shared: 2 * 4 + 1 = 9.
    assert shown["Diffusion frames"] == "9"
    # Keyframes once (3 x 10 steps) plus each transition's in-between frames.
    tree = auto_tree(10, 5, 0.5)
    assert shown["Denoise steps"] == str(3 * 10 + 2 * tree.transition_steps)
    assert shown["From scratch"] == str(9 * 10)
    assert int(shown["Denoise steps"]) < 9 * 10
    # Nothing measured yet: a first guess, said to be one.
    assert shown["Estimated time"].endswith(" s")
    assert any("is a first guess" in c.value for c in at.caption), [c.value for c in at.caption]
    assert at.get("plotly_chart"), "the tree is not drawn"


def test_an_impossible_setup_is_the_engines_error_and_blocks_render(page):
    at = page
    at.number_input(key="blend.steps").set_value(10)
    at.radio(key="blend.setup").set_value("manual").run()
    at.text_input(key="blend.branches").set_value("2")
    at.radio(key="blend.injection_kind").set_value("steps")
    at.text_input(key="blend.injection").set_value("12").run()
    assert not at.exception
    assert any(
        "injection step of level 1 must be between 1 and 9 (steps - 1), got 12" in e.value
        for e in at.error
    ), [e.value for e in at.error]
    assert at.button(key="blend.render").disabled
    at.text_area(key="blend.prompts").set_value("a cat\n[seed=x] a dog").run()
    assert any("prompts line 2, column 2" in e.value for e in at.error)


def test_blend_render_plays_and_is_in_gallery_and_history(page, studio_home):
    at = page
    small_blend(at)
    at.number_input(key="blend.guidance_stop").set_value(0.4)
    job = render(at)
    assert job.status == "done", job.error
    run_id = job.meta["run_id"]
    assert any(f"Run {run_id} finished: 5 frames" in s.value for s in at.success)
    assert at.get("video"), "the finished movie does not play on the page"
    with Store.open(studio_home).session() as s:
        run = get_run(s, run_id)
        assert run.kind == "blend" and run.status == "done"
        assert run.spec["diffusion"]["guidance_stop"] == 0.4
        assert run.denoise_steps == 3 * 3 + 2 * run.plan["tree"]["transition_denoise_steps"]
        assert run.extra["tree"]["transitions"]
    # The finished run is now a measurement of builtin:tiny at 64 px.
    assert metrics(at)["Estimated time"].endswith(" s")
    assert any(
        "measured over 1 finished run(s) of builtin:tiny at 64×64" in c.value for c in at.caption
    ), [c.value for c in at.caption]

    at.switch_page("pages/gallery.py").run()
    assert any(run_id in m.value for m in at.markdown) and at.get("video")
    at.switch_page("pages/history.py").run()
    assert not at.exception, at.exception
    assert list(at.dataframe[1].value["kind"]) == ["blend"]
    at.text_input(key="history.text").set_value("blue square").run()
    assert list(at.dataframe[1].value["run"]) == [run_id]


def test_history_restores_a_blend_run_into_the_blend_page_and_reruns_it(page, studio_home):
    from ui.resources import get_jobs

    at = page
    small_blend(at)
    first = render(at).meta["run_id"]
    at.text_area(key="blend.prompts").set_value("something else\nentirely")
    at.number_input(key="blend.steps").set_value(7).run()
    at.switch_page("pages/history.py").run()
    at.selectbox(key="history.run").set_value(first).run()
    assert at.multiselect(key="history.groups.blend").value == [
        "prompts",
        "diffusion",
        "blend",
        "upscale",
        "output",
        "audio",
        "loras",
    ]
    at.button(key="history.restore").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Blend"
    assert at.text_area(key="blend.prompts").value == PROMPTS
    assert at.number_input(key="blend.steps").value == 3
    assert at.radio(key="blend.setup").value == "auto"

    at.switch_page("pages/history.py").run()
    at.selectbox(key="history.run").set_value(first).run()
    at.button(key="history.rerun").click().run()
    job = get_jobs().get(at.session_state["history.rerun_job"])
    assert job.wait(JOB_TIMEOUT) and job.status == "done", job.error
    at.run()
    assert any("reproduced: the output files are byte-identical" in s.value for s in at.success)
    with Store.open(studio_home).session() as s:
        assert [r.kind for r in list_runs(s)] == ["blend", "blend"]


def test_blend_settings_survive_a_visit_to_another_page(page):
    at = page
    at.text_area(key="blend.prompts").set_value("a purple star\na pink heart")
    at.radio(key="blend.setup").set_value("manual").run()
    at.text_input(key="blend.branches").set_value("3").run()
    at.switch_page("pages/gallery.py").run()
    blend_page(at)
    assert at.text_area(key="blend.prompts").value == "a purple star\na pink heart"
    assert at.text_input(key="blend.branches").value == "3"


def test_step_speed_is_measured_on_finished_runs_of_the_same_model_and_size():
    from ui.estimate import step_speed

    def run(model="builtin:tiny", size=64, status="done", seconds=12.0, steps=10):
        return {
            "status": status,
            "model_ref": model,
            "denoise_steps": steps,
            "timings": {"seconds": seconds, "load": 2.0},
            "spec": {"diffusion": {"width": size, "height": size}},
        }

    runs = [
        run(seconds=22.0),  # 2.0 s per step once loading is taken off
        run(model="builtin:shapes", seconds=1000.0),
        run(size=128, seconds=1000.0),
        run(status="failed", seconds=1000.0),
        run(seconds=12.0),  # 1.0
        run(seconds=42.0),  # 4.0
    ]
    speed = step_speed(runs, "builtin:tiny", 64, 64)
    assert speed.runs == 3 and speed.seconds_per_step == 2.0
    assert speed.estimate(30) == 60.0
    assert speed.source == "measured"
    # Other sizes of the same model: scaled by pixel count. At 32 px the 64 px runs count a
    # quarter (0.5, 0.25, 1.0) and the 128 px one a sixteenth (99.8 / 16): median 0.75.
    smaller = step_speed(runs, "builtin:tiny", 32, 32)
    assert smaller.source == "scaled" and smaller.runs == 4
    assert smaller.seconds_per_step == pytest.approx(0.75)
    assert step_speed(runs, "some/other-model", 64, 64) is None


def test_first_guess_scales_with_pixels_and_device():
    from ui.estimate import first_guess

    cpu = first_guess("builtin:shapes", 128, 128, gpu=False)
    assert cpu.source == "guess" and 0.01 < cpu.seconds_per_step < 0.2
    assert first_guess("builtin:shapes", 256, 256, gpu=False).seconds_per_step == pytest.approx(
        4 * cpu.seconds_per_step
    )
    assert (
        first_guess("org/sd", 512, 512, gpu=True).seconds_per_step
        < first_guess("org/sd", 512, 512, gpu=False).seconds_per_step
    )


def test_remaining_time_from_the_pace_or_the_plan():
    from ui.estimate import remaining_seconds

    # Frames done tell the pace; before any, the plan at the estimated speed.
    assert remaining_seconds(
        done=5, total=20, elapsed=10.0, predicted_steps=400, seconds_per_step=1.0
    ) == pytest.approx(30.0)
    assert remaining_seconds(
        done=0, total=20, elapsed=3.0, predicted_steps=40, seconds_per_step=0.5
    ) == pytest.approx(17.0)
    assert (
        remaining_seconds(done=0, total=0, elapsed=None, predicted_steps=None, seconds_per_step=1)
        is None
    )
