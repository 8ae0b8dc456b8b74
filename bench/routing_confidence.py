"""An experiment, not shipped: a calibrated logistic decision for the router's local step.

Instead of the hand-set floor, margin and evidence gates of `bot/routing/router.py`, a small
logistic model of a few numbers read off the local ranking (`FEATURES`) gives the
probability that the top agent is the right one, and the local step would decide at or
above `sure`, the lowest probability at which the requests it was fitted on are at most
`TUNING_MAX_ERROR` wrong. `bench/routing_eval.py --calibrated` fits it on the development
set (cross-validated) and judges the model fitted on the whole development set on the
corpus's held-out pairs. It meets the development-set targets (distinct roles, and the
rosters of near-identical agents added to it) but is wrong on about a third of the corpus
pairs it decides, so the router keeps its gates; see that bench's output and the README.

As with the shipped gates, two conditions come first: the request shares at least
`MIN_MATCHED_TERMS` words with the top agent, and the top agent also leads on its own name,
description and body.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.routing.local import LocalRanking
from bot.routing.router import MIN_MATCHED_TERMS, local_lead

FEATURES = (
    "log_top_score",  # log of the best local score (0 to 1)
    "lead",  # how far it leads the runner-up, as a share of itself (`local_lead`)
    "evidence",  # specificity of the words only the top agent's own text has (`LocalRanking`)
    "strongest_evidence",  # the most specific of those words alone
    "matched_terms",  # distinct request words found in the top agent's text
    "described_lead",  # its lead on name, description and body alone
)
# Tried as well (`bench/routing_eval.py --calibrated` cross-validates each variant on the
# development set; only `FEATURES` is judged on the corpus pairs). With the roster features,
# meant to tell rosters of near-identical agents apart, more near-identical development
# requests are decided wrongly, not fewer: its near-identical rosters are no harder for the
# local step than its distinct ones. `example_share` lowers the errors on the shipped agents
# (the development roster whose agents have `<example>` blocks and overlap) but not on the
# corpus pairs (see README).
EXAMPLE_FEATURES = ("example_share",)  # the share of its score its <example> blocks give
ROSTER_FEATURES = (
    "evidence_share",  # the share of its matched words' specificity the runner-up lacks
    "rival_overlap",  # how alike its name and description are to its closest rival's
    "near_rivals",  # how many other agents score within 80% of it (log(1 + count))
)
# Fitting: L2 penalty on the standardised weights; `sure` is the lowest probability at which
# none of the fitted requests it decides is wrong (`TUNING_MAX_ERROR`; at 0.02, folds of the
# development set's near-identical requests were 5% wrong).
L2_PENALTY = 1.0
TUNING_MAX_ERROR = 0.0
_SCORE_FLOOR = 1e-3  # log of a zero score


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic coefficients per feature, and the probability at which the local step decides."""

    weights: Mapping[str, float]
    intercept: float
    sure: float

    def probability(self, ranking: LocalRanking) -> float:
        """How likely the ranking's top agent is the right one (0 when it may not decide)."""
        if not eligible(ranking):
            return 0.0
        values = features(ranking)
        z = self.intercept + sum(weight * values[name] for name, weight in self.weights.items())
        return 1.0 / (1.0 + math.exp(-z))

    def decides(self, ranking: LocalRanking) -> bool:
        """True when the local step may pick the top agent without the model."""
        return self.probability(ranking) >= self.sure


def eligible(ranking: LocalRanking) -> bool:
    """True when the local step may decide at all (see the module's docstring)."""
    top = ranking.top
    return (
        top is not None
        and ranking.matched_terms >= MIN_MATCHED_TERMS
        and ranking.described_top == top.agent
    )


def features(ranking: LocalRanking) -> dict[str, float]:
    """The numbers `ConfidenceModel` weighs, by name."""
    top = ranking.candidates[0].score if ranking.candidates else 0.0
    return {
        "log_top_score": math.log(max(top, _SCORE_FLOOR)),
        "lead": local_lead(ranking.candidates),
        "evidence": ranking.evidence,
        "strongest_evidence": ranking.strongest_evidence,
        "matched_terms": float(ranking.matched_terms),
        "described_lead": ranking.described_lead,
        "evidence_share": ranking.evidence_share,
        "rival_overlap": ranking.rival_overlap,
        "near_rivals": math.log1p(ranking.near_rivals),
        "example_share": ranking.example_share,
    }


def fit(
    rankings: Sequence[LocalRanking],
    right: Sequence[bool],
    *,
    l2: float = L2_PENALTY,
    max_error: float = TUNING_MAX_ERROR,
    names: Sequence[str] = FEATURES,
) -> ConfidenceModel:
    """A model fitted to labelled rankings (`right`: the top agent is the labelled one).

    Only eligible rankings are fitted on; `sure` is chosen on the same rankings.
    """
    kept = [i for i, ranking in enumerate(rankings) if eligible(ranking)]
    outcome = np.asarray([1.0 if right[i] else 0.0 for i in kept])
    matrix = np.asarray([[features(rankings[i])[n] for n in names] for i in kept], dtype=float)
    if not kept or outcome.min() == outcome.max():
        return ConfidenceModel(weights=dict.fromkeys(names, 0.0), intercept=0.0, sure=1.0)
    mean, spread = matrix.mean(axis=0), matrix.std(axis=0)
    spread[spread == 0] = 1.0
    scaled = _logistic((matrix - mean) / spread, outcome, l2)
    weights = scaled[:-1] / spread
    intercept = float(scaled[-1] - weights @ mean)
    model = ConfidenceModel(
        weights={name: float(w) for name, w in zip(names, weights, strict=True)},
        intercept=intercept,
        sure=1.0,
    )
    probabilities = [model.probability(rankings[i]) for i in kept]
    sure = lowest_sure(probabilities, [bool(y) for y in outcome], max_error)
    return ConfidenceModel(weights=model.weights, intercept=intercept, sure=sure)


def lowest_sure(probabilities: Sequence[float], right: Sequence[bool], max_error: float) -> float:
    """The lowest probability at which the rows at or above it are at most `max_error` wrong."""
    order = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])
    sure, wrong = 1.0, 0
    for count, i in enumerate(order, start=1):
        wrong += not right[i]
        following = order[count] if count < len(order) else None
        if following is not None and probabilities[following] == probabilities[i]:
            continue  # a threshold can't split equal probabilities
        if wrong <= max_error * count:
            sure = probabilities[i]
    return sure


def _logistic(matrix: np.ndarray, outcome: np.ndarray, l2: float) -> np.ndarray:
    """Weights then intercept of an L2-penalised logistic regression (Newton's method)."""
    rows, columns = matrix.shape
    design = np.hstack([matrix, np.ones((rows, 1))])
    penalty = np.eye(columns + 1) * l2
    penalty[-1, -1] = 0.0  # the intercept is not penalised
    weights = np.zeros(columns + 1)
    for _ in range(100):
        predicted = 1.0 / (1.0 + np.exp(-(design @ weights)))
        gradient = design.T @ (predicted - outcome) + penalty @ weights
        hessian = (design * (predicted * (1 - predicted))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-10:
            break
    return weights
