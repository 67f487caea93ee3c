"""The off-policy corrections compared in the paper's Table 2 (§5.2.2).

One pure function, `compute_targets`, gives the learner its value targets
`vs`, policy-gradient advantages `pg_advantages` and the epsilon the
policy-gradient loss adds inside the log, for each of:

  'vtrace'  V-trace (paper §4, docs/impala.md §1), with the given thresholds:
              vs, pg_advantages = vtrace.from_logits(...)

  'none'    No correction: the data is treated as on-policy, i.e. V-trace with
            log_rho = 0 (rho = c = 1):
              vs_s = r_s + gamma_s * vs_{s+1},   vs_T = V(x_T) = bootstrap_value
            (the n-step bootstrapped return), and
              pg_advantage_s = r_s + gamma_s * vs_{s+1} - V(x_s).

  'epsilon' As 'none' for both targets; the policy-gradient loss uses
            -log(pi(a_s|x_s) + epsilon) with epsilon = 1e-6 so that log pi
            cannot become very small (GA3C-style). No importance weighting.

  '1step'   1-step importance sampling ("V-trace without traces"): no
            correction when optimising V, so vs is the 'none' vs; the
            advantage at each step is multiplied by its importance weight,
            truncated at pg_rho_bar (= clip_pg_rho_threshold, 1 by default as
            in the paper: "rho_bar = c_bar = 1"):
              pg_advantage_s = min(pg_rho_bar, rho_s)
                               * (r_s + gamma_s * vs_{s+1} - V(x_s))
            with the uncorrected vs and vs_T = bootstrap_value.

The paper does not say which return the uncorrected value target uses; we
take the reading closest to V-trace with the correction removed (docs/impala.md
§1): the n-step return over the unroll, bootstrapped from V(x_T). 'none',
'epsilon' and '1step' therefore share the same `vs`.

Shapes are time-major as in `vtrace`: `[T, B, ...]` per step, `[T, B, ...,
NUM_ACTIONS]` logits, `[B, ...]` bootstrap_value.
"""

import collections
import contextlib

import tensorflow as tf

from scalable_agent_tf2 import vtrace
from scalable_agent_tf2.config import CORRECTIONS  # The --correction names.

# GA3C-style epsilon inside the log of the policy gradient (paper §5.2.2).
EPSILON = 1e-6

# vs, pg_advantages: [T, B, ...] targets under stop-gradient.
# log_rhos: [T, B, ...] log pi(a) - log mu(a) of the data, whatever the
#   correction (for summaries; only 'vtrace' and '1step' use it).
# log_prob_epsilon: Python float added inside the log of the policy-gradient
#   loss, -log(pi(a) + log_prob_epsilon): EPSILON for 'epsilon', else 0.0.
CorrectionTargets = collections.namedtuple(
    'CorrectionTargets', 'vs pg_advantages log_rhos log_prob_epsilon')


def compute_targets(correction,
                    behaviour_policy_logits,
                    target_policy_logits,
                    actions,
                    discounts,
                    rewards,
                    values,
                    bootstrap_value,
                    clip_rho_threshold=1.0,
                    clip_pg_rho_threshold=1.0,
                    device=vtrace.DEFAULT_DEVICE):
  """Targets for the learner's losses under one of the Table 2 corrections.

  Args:
    correction: one of `CORRECTIONS` (see the module docstring).
    behaviour_policy_logits: float `[T, B, ..., NUM_ACTIONS]`, logits of mu.
    target_policy_logits: float `[T, B, ..., NUM_ACTIONS]`, logits of pi.
    actions: integer `[T, B, ...]`, actions sampled from mu.
    discounts: float `[T, B, ...]`, gamma_t (0 where the episode ended).
    rewards: float `[T, B, ...]`, r_t.
    values: float `[T, B, ...]`, V(x_t).
    bootstrap_value: float `[B, ...]`, V(x_T).
    clip_rho_threshold: rho_bar for 'vtrace' (scalar or None); not used by
      the other corrections, which do not correct the value target.
    clip_pg_rho_threshold: pg rho_bar for 'vtrace' and '1step' (scalar or
      None); not used by 'none' and 'epsilon'.
    device: placement of the targets' ops (see `vtrace.DEFAULT_DEVICE`:
      the CPU, as in the paper); None inherits the caller's placement.

  Returns:
    `CorrectionTargets(vs, pg_advantages, log_rhos, log_prob_epsilon)`.

  Raises:
    ValueError: on an unknown correction name, or bad inputs (see
      `vtrace.from_logits`).
  """
  if not isinstance(correction, str) or correction not in CORRECTIONS:
    raise ValueError(
        f'Unknown off-policy correction {correction!r}; valid names are '
        f'{", ".join(repr(c) for c in CORRECTIONS)}.')

  if correction == 'vtrace':
    returns = vtrace.from_logits(
        behaviour_policy_logits=behaviour_policy_logits,
        target_policy_logits=target_policy_logits,
        actions=actions, discounts=discounts, rewards=rewards, values=values,
        bootstrap_value=bootstrap_value,
        clip_rho_threshold=clip_rho_threshold,
        clip_pg_rho_threshold=clip_pg_rho_threshold,
        device=device)
    return CorrectionTargets(
        vs=returns.vs, pg_advantages=returns.pg_advantages,
        log_rhos=returns.log_rhos, log_prob_epsilon=0.0)

  return _uncorrected_targets(correction, behaviour_policy_logits,
                              target_policy_logits, actions, discounts,
                              rewards, values, bootstrap_value,
                              clip_rho_threshold, clip_pg_rho_threshold, device)


def _uncorrected_targets(correction, behaviour_policy_logits,
                         target_policy_logits, actions, discounts, rewards,
                         values, bootstrap_value, clip_rho_threshold,
                         clip_pg_rho_threshold, device):
  """`compute_targets` for 'none', 'epsilon' and '1step' (same arguments)."""
  # The uncorrected targets ('none', 'epsilon', and the value target of
  # '1step'): V-trace with rho = 1 everywhere. The thresholds must not enter
  # here (min(rho_bar, 1) would differ from 1 for rho_bar < 1), hence None.
  placement = contextlib.nullcontext() if device is None else tf.device(device)
  with placement, tf.name_scope(f'{correction}_targets'):
    log_rhos = (
        vtrace.log_probs_from_logits_and_actions(target_policy_logits,
                                                 actions) -
        vtrace.log_probs_from_logits_and_actions(behaviour_policy_logits,
                                                 actions))
    # Validate both thresholds even where unused, so a malformed flag fails
    # the same way under every correction.
    # pylint: disable=protected-access
    vtrace._threshold_tensor(clip_rho_threshold, 'clip_rho_threshold',
                             log_rhos.dtype)
    pg_rho_bar = vtrace._threshold_tensor(
        clip_pg_rho_threshold, 'clip_pg_rho_threshold', log_rhos.dtype)
    # pylint: enable=protected-access
    uncorrected = vtrace.from_importance_weights(
        log_rhos=tf.zeros_like(log_rhos),
        discounts=discounts,
        rewards=rewards,
        values=values,
        bootstrap_value=bootstrap_value,
        clip_rho_threshold=None,
        clip_pg_rho_threshold=None,
        device=device)
    if correction in ('none', 'epsilon'):
      return CorrectionTargets(
          vs=uncorrected.vs,
          pg_advantages=uncorrected.pg_advantages,
          log_rhos=log_rhos,
          log_prob_epsilon=EPSILON if correction == 'epsilon' else 0.0)

    # '1step': weight each uncorrected advantage by its truncated importance
    # weight. The weights are data, not a function of the parameters.
    clipped_pg_rhos = tf.minimum(pg_rho_bar, tf.exp(tf.stop_gradient(log_rhos)))
    return CorrectionTargets(
        vs=uncorrected.vs,
        pg_advantages=tf.stop_gradient(clipped_pg_rhos *
                                       uncorrected.pg_advantages),
        log_rhos=log_rhos,
        log_prob_epsilon=0.0)
