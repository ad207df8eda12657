"""Model optimization before conversion: magnitude and M:N pruning, structured channel pruning,
each fine-tuned by distillation from the original, and int8 quantization held to an accuracy
budget. `pipeline` holds the steps `edgekit convert` and `edgekit prune` run.

Everything here works on plain Keras 3 models and gives back plain Keras models (no wrapper
layers), so every converter takes the result.
"""

from edgekit.optimize.budget import BudgetNotMetError, BudgetResult, quantize_to_budget
from edgekit.optimize.pipeline import BudgetReport, convert_to_budget, prune_model
from edgekit.optimize.prune import PruneConfig, PruneResult, prune, sparsity_of
from edgekit.optimize.prune_search import prune_to_budget
from edgekit.optimize.structured import StructuredResult, prune_channels

__all__ = [
    "BudgetNotMetError",
    "BudgetReport",
    "BudgetResult",
    "convert_to_budget",
    "quantize_to_budget",
    "PruneConfig",
    "PruneResult",
    "StructuredResult",
    "prune",
    "prune_channels",
    "prune_model",
    "prune_to_budget",
    "sparsity_of",
]
