"""What a run logs to MLflow, without MLflow: the spec flattened into params, and the
result's numbers (smoothness included, when measured) as metrics (studio.app.tracking)."""

from __future__ import annotations

from pathlib import Path

from studio.app.tracking import flatten_params, run_metrics
from studio.events import OutputFile, RenderResult
from studio.spec import AnimationSpec


class _Scored(RenderResult):
    def kind_facts(self):
        return {
            "smoothness": {
                "frames": 3,
                "mean": 0.25,
                "cv": 0.5,
                "max_jump": 0.4,
                "max_jump_frame": 2,
                "distances": [0.1, 0.4],
            }
        }


def test_a_spec_flattens_into_dotted_params_with_long_values_cut():
    spec = AnimationSpec().to_dict()
    spec["prompts"]["schedule"] = "0: a red circle\n" * 1000  # 16,000 characters
    params = flatten_params(spec)
    assert params["diffusion.model"] == "builtin:shapes" and params["kind"] == "animation"
    assert params["diffusion.seed"] == "0" and params["diffusion.width"] in ("null", "128")
    assert len(params["prompts.schedule"]) == 6000 and params["prompts.schedule"].endswith("...")
    assert not any(isinstance(v, dict) for v in params.values())
    assert all(isinstance(v, str) for v in params.values())


def test_metrics_carry_timings_steps_and_smoothness_when_measured():
    out = OutputFile(Path("a.mp4"), "mp4", 3, 12.0, 64, 64)
    plain = RenderResult(
        [out], frames=3, fps=12.0, denoise_steps=6, seconds=3.0, timings={"unet": 2.0, "vae": 0.5}
    )
    metrics = run_metrics(plain)
    assert metrics["seconds_per_denoise_step"] == 0.5 and metrics["timings.unet"] == 2.0
    assert metrics["frames"] == 3 and not any(k.startswith("smoothness") for k in metrics)
    scored = run_metrics(_Scored([out], frames=3, fps=12.0, denoise_steps=6, seconds=3.0))
    assert scored["smoothness.cv"] == 0.5 and scored["smoothness.max_jump_frame"] == 2
    assert scored["smoothness.distances"] == [0.1, 0.4]
