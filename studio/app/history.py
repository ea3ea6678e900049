"""The history's searches and comparisons, shared by the History page and ``runs search``,
``runs compare``: pure functions over the JSON-safe run dicts of
``db.repository.run_to_dict``, so they are testable without Streamlit or a store.
"""

from __future__ import annotations

from datetime import date
from typing import Any

__all__ = ["matches", "prompts_text", "reproduction"]


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
) -> bool:
    """Whether ``run`` passes every given filter (empty filters pass everything).

    ``text`` is looked for, case-insensitively, in the schedule (a blend's prompts), the
    negative prompt, the run id and the error; ``model`` in the model reference; ``tags`` must all be tags of the
    run's session; ``since``/``until`` bound the creation date (inclusive).
    """
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
