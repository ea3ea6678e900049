"""Every dashboard page through Streamlit's AppTest, with the real engine on builtin:tiny."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from db import Store, list_runs
from tests.support.dashboard import TIMEOUT, render


def test_prompt_schedule_page_shows_plan_and_chart(app):
    assert app.title[0].value == "Prompt Schedule"
    app.text_area(key="ps.schedule").set_value(
        "0: a red circle\n12: a blue square\n24: a green star"
    )
    app.run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Frames"] == "25" and metrics["Keyframes"] == "3"
    assert metrics["Denoise steps"] == str(25 * 20)
    assert app.get("plotly_chart"), "the interpolation chart is missing"


def test_prompt_schedule_plan_and_eta_follow_the_settings_and_measured_runs(app, studio_home):
    """The plan and ETA of ``animate --plan`` (issue 29, item 5), updated as settings change
    and once this home has measured a run of the model at this size."""
    from db.recorder import RunRecorder
    from tests.support.hub import StubResult
    from ui.history import duration

    def shown():
        return {m.label: m.value for m in app.metric}, " ".join(c.value for c in app.caption)

    assert "Plan" in [h.value for h in app.subheader]
    model = app.selectbox(key="sidebar.model").value
    width, height = app.number_input(key="ps.width").value, app.number_input(key="ps.height").value
    app.text_area(key="ps.schedule").set_value("0: a red circle\n9: a blue square")
    app.number_input(key="ps.steps").set_value(4).run()
    metrics, caption = shown()
    assert metrics["Frames"] == "10" and metrics["Denoise steps"] == "40"
    assert f"{model} at {width}×{height}, 4 steps" in caption and "first guess" in caption
    guessed = metrics["Estimated time"]

    # A finished run of this model at this size: 2.5 s for 10 steps, loading left out.
    recorder = RunRecorder.create(
        Store.open(studio_home),
        session_slug="measured",
        kind="animation",
        spec={"diffusion": {"width": width, "height": height}},
        schema_version=1,
        model_ref=model,
        seed=0,
    )
    recorder.finished(StubResult(denoise_steps=10, seconds=2.5, timings={"load": 0.0}))
    app.number_input(key="ps.steps").set_value(8).run()
    metrics, caption = shown()
    assert metrics["Denoise steps"] == "80"
    assert metrics["Estimated time"] == duration(80 * 0.25) != guessed
    assert "0.250 s per denoise step, measured over 1 finished run(s)" in caption


def test_render_plays_and_is_recorded(app, studio_home):
    job = render(app, "0: a red circle\n4: a blue square")
    assert job.status == "done", job.error
    assert any("finished: 5 frames" in s.value for s in app.success)
    assert app.get("video"), "the finished video is not shown"
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
        assert run.status == "done" and run.frames_done == 5 and len(run.outputs) == 1
        assert run.session.slug == "default"


def test_the_guidance_stop_starts_at_the_models_own_and_goes_into_the_run(app, studio_home):
    from studio.pipeline.builtin import recommended_guidance_stop
    from studio.spec import DEFAULT_MODEL

    field = app.number_input(key="ps.guidance_stop")
    assert field.value == recommended_guidance_stop(DEFAULT_MODEL) > 0
    field.set_value(0.5)
    job = render(app, "0: a red circle")
    assert job.status == "done", job.error
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
        assert run.spec["diffusion"]["guidance_stop"] == 0.5


def test_bad_schedule_is_an_error_message_not_a_traceback(app):
    app.text_area(key="ps.schedule").set_value("0: a red circle\nfive: a blue square")
    app.run()
    assert not app.exception
    assert any("line 2" in e.value for e in app.error)
    assert app.button(key="ps.render").disabled


def test_bad_setting_is_an_error_message(app):
    app.number_input(key="ps.width").set_value(100)
    app.run()
    assert not app.exception
    assert any("width must be a positive multiple of 8, got 100" in e.value for e in app.error)


def test_a_failed_render_says_why(app, studio_home):
    app.selectbox(key="sidebar.model").set_value("Other: folder, file or Hub id").run()
    app.text_input(key="sidebar.model_other").set_value(str(studio_home / "no-such-folder")).run()
    job = render(app, "0: a red circle")
    assert job.status == "failed"
    assert any("cannot read model reference" in e.value for e in app.error)
    with Store.open(studio_home).session() as s:
        assert list_runs(s)[0].status == "failed"


def test_a_render_clicked_just_before_a_page_switch_is_still_queued(app, studio_home):
    """The click and the switch reach the server as one run (a busy server merges them): that
    run draws the Gallery, never the Render button, and the render is queued all the same."""
    from ui.resources import get_jobs

    app.text_area(key="ps.schedule").set_value("0: a red circle\n2: a blue square")
    app.number_input(key="ps.steps").set_value(2)
    app.run()
    app.button(key="ps.render").click()
    app.switch_page("pages/gallery.py").run()
    assert not app.exception, app.exception
    job = get_jobs().get(app.session_state["ps.job"])
    assert job.wait(TIMEOUT), "render did not finish"
    assert job.status == "done", job.error
    app.switch_page("pages/prompt_schedule.py").run()
    assert any("finished: 3 frames" in s.value for s in app.success)


def test_a_render_the_settings_refuse_says_why_under_the_button(app, monkeypatch):
    """A render refused at submission is an error under the button, not a traceback, and no
    job is kept."""
    from studio.errors import StudioError
    from ui import render as ui_render

    def refuse(*args, **kwargs):
        raise StudioError("the render queue is closed")

    monkeypatch.setattr(ui_render, "submit_spec", refuse)
    app.button(key="ps.render").click().run()
    assert not app.exception, app.exception
    assert any("the render queue is closed" in e.value for e in app.error)
    assert "ps.job" not in app.session_state
    app.run()  # said once
    assert not any("the render queue is closed" in e.value for e in app.error)


def test_typed_schedule_survives_a_visit_to_another_page(app):
    app.text_area(key="ps.schedule").set_value("0: a purple star\n3: a pink heart")
    app.run()
    app.switch_page("pages/history.py").run()
    app.switch_page("pages/prompt_schedule.py").run()
    assert app.text_area(key="ps.schedule").value == "0: a purple star\n3: a pink heart"


def test_new_runs_go_to_the_sidebar_session(app, studio_home):
    app.text_input(key="sidebar.new_session").set_value("Colour Studies").run()
    app.button(key="sidebar.create_session").click().run()
    assert app.selectbox(key="sidebar.session").value == "colour-studies"
    render(app, "0: a red circle")
    with Store.open(studio_home).session() as s:
        assert list_runs(s)[0].session.slug == "colour-studies"


def test_gallery_is_empty_at_first_then_lists_outputs(app):
    app.switch_page("pages/gallery.py").run()
    assert not app.exception
    assert app.title[0].value == "Gallery"
    assert any("No outputs yet" in i.value for i in app.info)
    app.switch_page("pages/prompt_schedule.py").run()
    job = render(app, "0: a red circle\n2: a blue square")
    app.switch_page("pages/gallery.py").run()
    assert not app.exception
    run_id = job.meta["run_id"]
    assert any(run_id in m.value for m in app.markdown)
    assert app.get("video") and app.get("download_button")
    assert any("largest jump" in c.value for c in app.caption)  # its smoothness score


def test_history_lists_sessions_runs_and_specs(app):
    app.switch_page("pages/history.py").run()
    assert not app.exception and app.title[0].value == "History"
    app.switch_page("pages/prompt_schedule.py").run()
    job = render(app, "0: a red circle")
    app.switch_page("pages/history.py").run()
    assert not app.exception
    assert len(app.dataframe) == 2  # sessions and runs
    runs = app.dataframe[1].value
    assert list(runs["run"]) == [job.meta["run_id"]] and list(runs["status"]) == ["done"]
    assert app.selectbox(key="history.run").value == job.meta["run_id"]
    assert app.get("json"), "the run's spec is not shown"


def history_after_two_runs(app):
    first = render(app, "0: a red circle\n2: a blue square", steps=2)
    app.number_input(key="ps.seed").set_value(5)
    second = render(app, "0: a green star\n1: a yellow star", steps=3)
    app.switch_page("pages/history.py").run()
    assert not app.exception, app.exception
    return first.meta["run_id"], second.meta["run_id"]


def test_history_search_narrows_the_runs(app):
    first, second = history_after_two_runs(app)
    app.text_input(key="history.text").set_value("green star").run()
    assert list(app.dataframe[1].value["run"]) == [second]
    app.text_input(key="history.text").set_value("no such prompt").run()
    assert len(app.dataframe[1].value) == 0
    assert not app.exception


def test_history_compares_two_runs(app):
    first, second = history_after_two_runs(app)
    app.selectbox(key="history.run").set_value(second).run()
    app.selectbox(key="history.other").set_value(first).run()
    diff = app.table[-1].value
    assert {"prompts.schedule", "diffusion.steps", "diffusion.seed"} <= set(diff["setting"])


def test_restore_settings_brings_a_run_back_into_its_page(app):
    first, second = history_after_two_runs(app)
    app.selectbox(key="history.run").set_value(first).run()
    app.button(key="history.restore").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Prompt Schedule"
    assert app.text_area(key="ps.schedule").value == "0: a red circle\n2: a blue square"
    assert app.number_input(key="ps.steps").value == 2
    assert app.number_input(key="ps.seed").value == 0


def test_restore_only_the_prompts(app):
    first, second = history_after_two_runs(app)
    app.selectbox(key="history.run").set_value(first).run()
    app.multiselect(key="history.groups").set_value(["prompts"]).run()
    app.button(key="history.restore").click().run()
    assert app.text_area(key="ps.schedule").value == "0: a red circle\n2: a blue square"
    assert app.number_input(key="ps.steps").value == 3  # diffusion settings left as they were
    assert app.number_input(key="ps.seed").value == 5


def test_rerun_says_it_reproduced(app):
    from ui.resources import get_jobs

    first, _ = history_after_two_runs(app)
    app.selectbox(key="history.run").set_value(first).run()
    app.button(key="history.rerun").click().run()
    job = get_jobs().get(app.session_state["history.rerun_job"])
    assert job.wait(TIMEOUT) and job.status == "done", job.error
    app.run()
    assert any("reproduced: the output files are byte-identical" in s.value for s in app.success)


# -- Sessions page ---------------------------------------------------------------------------

from tests.support.hub import make_session  # noqa: E402


def sessions_page(app, studio_home, slug="demo"):
    make_session(Store.open(studio_home), slug)
    app.switch_page("pages/sessions.py").run()
    assert not app.exception, app.exception
    return app


def test_sessions_page_annotates_a_session(app, studio_home):
    at = sessions_page(app, studio_home)
    assert list(at.dataframe[0].value["session"]) == ["demo"]
    at.text_area[0].set_value("golden hour tests")
    at.text_input[1].set_value("sunset, keep")  # tags
    at.button[0].click().run()  # the form's Save
    assert not at.exception, at.exception
    assert any("Saved session demo" in s.value for s in at.success)
    from db.repository import get_session

    with Store.open(studio_home).session() as s:
        session = get_session(s, "demo")
        assert session.notes == "golden hour tests" and session.tags == ["sunset", "keep"]


def test_sessions_page_renames_and_deletes_only_after_confirmation(app, studio_home):
    at = sessions_page(app, studio_home)
    at.text_input(key="sessions.new_name").set_value("Demo Two").run()
    at.button(key="sessions.rename").click().run()
    assert any("Renamed demo to demo-two" in s.value for s in at.success)
    assert (studio_home / "outputs" / "demo-two").is_dir()
    assert at.button(key="sessions.delete").disabled
    at.checkbox(key="sessions.confirm_delete").check().run()
    at.button(key="sessions.delete").click().run()
    assert any("Deleted session demo-two" in s.value for s in at.success)
    assert not (studio_home / "outputs" / "demo-two").exists()
    with Store.open(studio_home).session() as s:
        assert list_runs(s) == []


def test_sessions_page_pushes_and_pulls_through_the_hub(app, studio_home, hub):  # noqa: F811
    at = sessions_page(app, studio_home)
    at.text_input(key="sessions.repo").set_value("me/studio").run()
    at.button(key="sessions.push").click().run()
    assert not at.exception, at.exception
    assert any("pushed session 'demo' to me/studio" in s.value for s in at.success), at.error
    at.button(key="sessions.list_remote").click().run()
    assert list(at.dataframe[1].value["session"]) == ["demo"]
    at.text_input(key="sessions.as_name").set_value("demo copy").run()
    at.button(key="sessions.pull").click().run()
    assert not at.error, [e.value for e in at.error]
    with Store.open(studio_home).session() as s:
        assert {r.session.slug for r in list_runs(s)} == {"demo", "demo-copy"}


def test_sessions_page_says_when_the_hub_cannot_be_reached(app, studio_home, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    at = sessions_page(app, studio_home)
    at.text_input(key="sessions.repo").set_value("me/studio").run()
    at.button(key="sessions.push").click().run()
    assert not at.exception
    assert at.error and "reach" in at.error[0].value.lower()


# -- Audio & Video -------------------------------------------------------------------------


def click_track(seconds: float = 2.5, clicks=(0.5, 1.25, 2.0), rate: int = 22050) -> bytes:
    """A WAV of silence with sharp clicks at ``clicks`` seconds."""
    import io

    import numpy as np
    import soundfile as sf

    y = np.zeros(int(seconds * rate), np.float32)
    n = int(0.01 * rate)
    noise = np.random.default_rng(2).standard_normal(n) * np.exp(-np.arange(n) / (0.002 * rate))
    for click in clicks:
        y[int(click * rate) : int(click * rate) + n] = 0.8 * noise
    buffer = io.BytesIO()
    sf.write(buffer, y, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def audio_page(at: AppTest, schedule: str) -> AppTest:
    at.text_area(key="ps.schedule").set_value(schedule).run()
    at.switch_page("pages/audio_video.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Audio & Video"
    return at


def test_audio_page_finds_key_frames_and_writes_them_into_the_schedule(app, studio_home):
    from db.repository import get_session

    at = audio_page(app, "0: a red circle\n10: a blue square")
    at.file_uploader(key="av.upload").upload("my song.wav", click_track(), "audio/wav").run()
    assert not at.error, [e.value for e in at.error]
    stored = at.session_state["av.audio"]
    assert stored.startswith("inputs/default/") and stored.endswith("-my_song.wav")
    assert (studio_home / stored).is_file()
    with Store.open(studio_home).session() as s:
        (media,) = get_session(s, "default").inputs
        assert (media.kind, media.path) == ("audio", stored)

    at.button(key="av.detect").click().run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart"), "the audio chart is missing"
    assert any("4 key frames" in m.value for m in at.markdown)  # 0 and the three clicks
    at.button(key="av.write").click().run()
    assert any("Schedule updated" in s.value for s in at.success)
    # Clicks at 0.5, 1.25 and 2.0 s at 12 fps; the track ends in frame 29. The blue square
    # moves from index 1 to 2, so it keeps the seed it drew (base 0 + 1) written on its line.
    assert at.session_state["ps.schedule"] == (
        "0: a red circle\n6: a red circle\n10 [seed=1]: a blue square\n15: a blue square\n"
        "24: a blue square\n29: a blue square"
    )

    at.checkbox(key="av.timing").check().run()
    at.switch_page("pages/prompt_schedule.py").run()
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Frames"] == "30" and metrics["Keyframes"] == "6"
    assert "15: a blue square" in at.text_area(key="ps.schedule").value


def test_audio_page_rejects_a_file_that_is_not_audio(app, studio_home):
    from db.repository import list_sessions

    at = audio_page(app, "0: a red circle")
    at.file_uploader(key="av.upload").upload("notes.wav", b"not audio\n" * 50, "audio/wav").run()
    assert not at.exception, at.exception
    assert any("notes.wav" in e.value and "cannot be read as wav" in e.value for e in at.error)
    # The file as the user named it, once; never the temporary name it was saved under.
    assert all(e.value.count("notes.wav") == 1 and ".part-" not in e.value for e in at.error)
    assert at.session_state["av.audio"] == ""
    assert not (studio_home / "inputs").exists() or not any((studio_home / "inputs").rglob("*.*"))
    with Store.open(studio_home).session() as s:
        assert not any(session.inputs for session in list_sessions(s))
    assert at.button(key="av.detect").disabled


def _conditional_widget_script():
    import streamlit as st

    from ui.state import keep, remember_all

    remember_all()
    keep("t.show", True)
    st.checkbox("Show", key="t.show")
    if st.session_state["t.show"]:
        keep("t.name", "first")
        st.text_input("Name", key="t.name")


def test_a_conditional_widget_keeps_a_value_changed_in_the_run_that_hides_it():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_conditional_widget_script).run()
    # Type a name and hide the field in one run (as a form or a fast user does).
    at.text_input(key="t.name").set_value("second")
    at.checkbox(key="t.show").uncheck().run()
    at.checkbox(key="t.show").check().run()
    assert at.text_input(key="t.name").value == "second"


def test_the_dashboard_config_turns_off_streamlits_collection_after_every_rerun():
    """A render's progress panel reruns twice a second; Streamlit's default full garbage
    collection after each run held the GIL long enough, with torch loaded, that the first
    render of a fresh dashboard took 150 s instead of 30 s on a 2-core machine (the browser
    test, tests/test_e2e.py, times out on it)."""
    import tomllib

    from streamlit import config

    root = Path(__file__).resolve().parents[2]
    settings = tomllib.loads((root / ".streamlit" / "config.toml").read_text())
    assert settings["runner"]["postScriptGC"] is False
    # and it is an option this Streamlit knows (a misspelt key would be ignored)
    assert config.get_option("runner.postScriptGC") in (True, False)
