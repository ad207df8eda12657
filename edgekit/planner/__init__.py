"""`edgekit plan`: the fastest artifact that meets a latency budget and an accuracy budget on
each target, searched over formats, precisions, channel pruning, input sizes and threads.

- `space`: the candidates per target, from the format registry and the device profiles;
- `search`: estimate-first screening, then Optuna's constrained multi-objective search;
- `evaluate`: a worker's job (variant, conversion, accuracy on the real artifact);
- `latency`: measured here or over `--on`, else estimated with its interval;
- `workers`: parallel worker processes, or a Ray cluster (`ray=ADDRESS`);
- `cache`: every variant and artifact by content hash; `report`: front, pick, files.

    >>> import edgekit
    >>> r = edgekit.plan(targets="local", budget_ms=5, max_drop=1.0)  # the bundled example
    >>> r.targets[0].pick.candidate
"""

from edgekit.planner.driver import PlanReport, plan
from edgekit.planner.report import TargetPlan
from edgekit.planner.space import LOCAL, Candidate

__all__ = ["LOCAL", "Candidate", "PlanReport", "TargetPlan", "plan"]
