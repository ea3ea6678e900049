"""The history's searches and comparisons, shared by the History page and ``runs search``,
``runs compare``: pure functions over the JSON-safe run dicts of
``db.repository.run_to_dict``, so they are testable without Streamlit or a store.
"""

from __future__ import annotations

from datetime import date
from typing import Any

__all__ = [
    "SORTS",
    "matches",
    "prompts_text",
    "reproduction",
    "scale_out_lines",
    "scale_out_of",
    "smoothness_of",
    "sort_runs",
]

# How runs can be ordered: newest first (as stored), most even motion first (the CV of the
# neighbour distances), or the smallest largest jump first. Runs without a score go last.
SORTS = ("newest", "evenness", "jump")
_SORT_KEYS = {"evenness": "cv", "jump": "max_jump"}


def matches(
    run: dict[str, Any],
    *,
    text: str = "",
    model: str = "",
    status: str = "",
    session: str = "",
    tags: set[str] | None = None,
    session_tags: dict[str, list[str]] | None = None,
    since: date | None = None,
    until: date | None = None,
    max_jump: float | None = None,
) -> bool:
    """Whether ``run`` passes every given filter (empty filters pass everything).

    ``text`` is looked for, case-insensitively, in the schedule (a blend's prompts), the
    negative prompt, the run id and the error; ``model`` in the model reference; ``tags`` must all be tags of the
    run's session; ``since``/``until`` bound the creation date (inclusive); ``max_jump``
    bounds the run's largest jump (1 - SSIM between neighbouring frames): a run without a
    smoothness score does not pass it.
    """
    if max_jump is not None:
        score = smoothness_of(run)
        if score is None or score["max_jump"] > max_jump:
            return False
    spec = run.get("spec") or {}
    prompts = spec.get("prompts", {})
    if text:
        haystack = " ".join(
            str(x)
            for x in (
                prompts_text(spec),
                prompts.get("negative_prompt"),
                run["id"],
                run.get("error"),
            )
            if x
        ).lower()
        if text.lower() not in haystack:
            return False
    if model and model.lower() not in (run.get("model_ref") or "").lower():
        return False
    if status and run["status"] != status:
        return False
    if session and run["session"] != session:
        return False
    if tags and not tags <= set((session_tags or {}).get(run["session"], [])):
        return False
    created = (run.get("created_at") or "")[:10]
    if since and created < since.isoformat():
        return False
    return not (until and created > until.isoformat())


def smoothness_of(run: dict[str, Any]) -> dict[str, Any] | None:
    """The run's smoothness score (``studio.media.smoothness``: ``mean``, ``cv``,
    ``max_jump``, ``max_jump_frame``, ``distances``), or None when it has none (it has not
    written its file yet, or a pulled run's score is not numbers)."""
    extra = run.get("extra")
    score = extra.get("smoothness") if isinstance(extra, dict) else None
    if not isinstance(score, dict):
        return None
    numbers = [score.get(k) for k in ("mean", "cv", "max_jump")]
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in numbers):
        return None
    return score


def sort_runs(runs: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """``runs`` (newest first, as the store lists them) in the order ``by`` (one of
    ``SORTS``); runs without a score keep their order, after the scored ones. Raises
    ``ValueError`` naming an unknown order."""
    if by not in SORTS:
        raise ValueError(f"unknown order {by!r}; expected one of {', '.join(SORTS)}")
    if by == "newest":
        return list(runs)
    key = _SORT_KEYS[by]
    scored = [(smoothness_of(r), r) for r in runs]
    ranked = sorted((x for x in scored if x[0] is not None), key=lambda x: x[0][key])
    return [r for _, r in ranked] + [r for score, r in scored if score is None]


def prompts_text(spec: dict[str, Any]) -> str:
    """What a run's spec asks to draw, as its page shows it: an animation's schedule, or a
    blend's prompts one per line (``studio.spec.prompt_list``)."""
    prompts = spec.get("prompts") or {}
    if "keyframes" in prompts:
        lines = []
        for key in prompts["keyframes"]:
            line = str(key.get("prompt", ""))
            if key.get("seed") is not None:
                line = f"[seed={key['seed']}] {line}"
            if key.get("negative") is not None:
                line += f" | negative: {key['negative']}".rstrip()
            lines.append(line)
        return "\n".join(lines)
    return str(prompts.get("schedule") or "")


def reproduction(original: dict[str, Any], rerun: dict[str, Any]) -> tuple[bool, str]:
    """Did ``rerun`` give the same output files as ``original``? And if not, a likely why."""
    a = [o["sha256"] for o in original.get("outputs", [])]
    b = [o["sha256"] for o in rerun.get("outputs", [])]
    if rerun["status"] != "done":
        return False, f"the re-run ended {rerun['status']}"
    if a and a == b:
        return True, "reproduced: the output files are byte-identical"
    reasons = []
    if original.get("device") != rerun.get("device"):
        reasons.append(f"device {original.get('device')} → {rerun.get('device')}")
    va, vb = original.get("versions") or {}, rerun.get("versions") or {}
    for name in sorted(set(va) | set(vb)):
        if va.get(name) != vb.get(name):
            reasons.append(f"{name} {va.get(name)} → {vb.get(name)}")
    if not a:
        return False, "the original run has no outputs to compare with"
    why = "; ".join(reasons) if reasons else "same device and library versions"
    return False, f"not reproduced: the frames differ ({why})"


def scale_out_of(run: dict[str, Any]) -> dict[str, Any] | None:
    """The run's scale-out record (``studio.app.scale``): ``shards``, ``workers``,
    ``expected_speedup``, ``why_one``, ``ran`` (``ray`` or ``one process``) and
    ``shard_timings`` (per shard: ``frames`` [first, last], ``seconds``, ``denoise_steps``,
    ``worker``, ``node``); None for a run rendered in one process without asking for more."""
    extra = run.get("extra")
    facts = extra.get("scale_out") if isinstance(extra, dict) else None
    return facts if isinstance(facts, dict) else None


def scale_out_lines(run: dict[str, Any]) -> list[str]:
    """``scale_out_of`` as the lines ``runs show`` prints (and History can show): the totals,
    then one line per shard."""
    facts = scale_out_of(run)
    if facts is None:
        return []
    timings = facts.get("shard_timings") or []
    workers = {(t.get("node"), t.get("worker")) for t in timings}
    lines = [
        f"scale-out: {facts.get('shards')} shard(s) on {facts.get('workers')} worker(s) "
        f"({facts.get('ran')}; {len(workers)} worker process(es) made them), expected "
        f"speed-up {facts.get('expected_speedup')}x"
    ]
    if facts.get("why_one"):
        lines.append(f"  one shard: {facts['why_one']}")
    for t in timings:
        what = f"shard {t['shard']}" if isinstance(t["shard"], int) else str(t["shard"])
        if t.get("frames"):
            what += f": frames {t['frames'][0]}-{t['frames'][1]}"
        lines.append(
            f"  {what}, {t['seconds']:.2f} s, {t['denoise_steps']} denoise steps, "
            f"worker {t.get('worker')}"
        )
    return lines
