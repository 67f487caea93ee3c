"""Data structures shared by environments, the agent, actors and the learner.

These are the released code's names (`StepOutput`, `StepOutputInfo`,
`AgentOutput`, `ActorOutput`) so that users' code ports over. All of them are
namedtuples, i.e. `tf.nest` structures: the same structure holds one step of
numpy values, a batch `[B, ...]`, or an unroll `[T, B, ...]`.

Time alignment (docs/impala.md §3, the released code): `done[t]` is True when
`observation[t]` is the first observation of a new episode, and `reward[t]` is
the reward received on the transition INTO step t (so on a `done` step it is the
last reward of the old episode).
"""

import collections

# Per-step episode bookkeeping carried alongside every environment step.
#   episode_return: float32. Return of the current real episode including this
#     step's reward; on a step where `episode_done` is True it is the return of
#     the episode that just ended.
#   episode_step: int32. Agent steps (not frames) in the current real episode,
#     likewise the finished episode's length on an `episode_done` step.
#   episode_done: bool. The REAL episode (the full game on Atari) ended on the
#     transition into this step. On DMLab this equals `done`; on Atari `done`
#     is also set on a life loss (learning episodes, paper Appendix G) while
#     `episode_done` is only set at game over, so reported returns are the
#     full game's.
StepOutputInfo = collections.namedtuple(
    'StepOutputInfo', 'episode_return episode_step episode_done')

# What an environment returns each step (also called the env output).
#   reward: float32, raw (unclipped) reward; clipping happens in the loss.
#   info: StepOutputInfo.
#   done: bool, see the module docstring.
#   observation: tuple (frame, instruction):
#     frame: uint8 [H, W, C] image.
#     instruction: string scalar (bytes); b'' where the level has none (Atari).
StepOutput = collections.namedtuple(
    'StepOutput', 'reward info done observation')

# What the agent returns for each step.
#   action: int32 [B] (or [T, B]) sampled action.
#   policy_logits: float32 [B, num_actions] (or [T, B, num_actions]).
#   baseline: float32 [B] (or [T, B]).
AgentOutput = collections.namedtuple(
    'AgentOutput', 'action policy_logits baseline')

# One unroll as an actor enqueues it (leading dims shown without the batch the
# learner adds by dequeueing `batch_size` of them):
#   level_name: string scalar, the level/game the unroll was played on.
#   agent_state: the agent's recurrent state BEFORE step 0 (a nest; empty
#     tuple for feed-forward agents).
#   env_outputs: StepOutput with leading [T + 1].
#   agent_outputs: AgentOutput with leading [T + 1].
# Step 0 repeats the last step of the previous unroll (docs/impala.md §3).
ActorOutput = collections.namedtuple(
    'ActorOutput', 'level_name agent_state env_outputs agent_outputs')
