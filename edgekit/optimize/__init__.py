"""Model optimization before conversion: magnitude and M:N pruning, structured channel pruning,
and int8 quantization held to an accuracy budget.

Everything here works on plain Keras 3 models and gives back plain Keras models (no wrapper
layers), so every converter takes the result.
"""

from edgekit.optimize.budget import BudgetNotMetError, BudgetResult, quantize_to_budget
from edgekit.optimize.prune import PruneConfig, PruneResult, prune, sparsity_of
from edgekit.optimize.structured import StructuredResult, prune_channels

__all__ = [
    "BudgetNotMetError",
    "BudgetResult",
    "quantize_to_budget",
    "PruneConfig",
    "PruneResult",
    "StructuredResult",
    "prune",
    "prune_channels",
    "sparsity_of",
]
