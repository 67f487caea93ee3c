r"""Environment workers: one environment per OS process, no TensorFlow.

An actor host (runtime/actor_host.py, docs/actor_hosts.md) keeps each of its
environments in a worker process of its own, as the paper's actors kept
environments apart from inference (paper §3, Table 1 "dyn. batch"). A worker
imports only numpy and the suite's environment code, so it costs the
emulator's memory and not a TensorFlow runtime's.

Exchange (no per-step pickling): one `multiprocessing.shared_memory` segment
per worker, created by the host, holds the step's fields as fixed numpy
views (`StepSlot`): action, reward, done, the StepOutputInfo fields, the
frame [H, W, C] and the instruction bytes. A Unix socket carries one byte per
message to say whose turn it is:

  host -> worker  b'S'  the action is in the slot: step the environment.
                  b'Q'  close the environment and exit.
  worker -> host  b'R'  ready: `initial()` is in the slot.
                  b'D'  done: the step's StepOutput is in the slot.

A dead worker is an end of file on the host's end of the socket. The worker
is started through `runtime.processes` (fork + exec of a fresh interpreter,
so nothing of the host's TensorFlow is inherited; it dies with the host):

  python -m scalable_agent_tf2.runtime.env_worker --socket=PATH \
      --shm=NAME --level=LEVEL --seed=SEED --logdir=LOGDIR --config=JSON
"""

import argparse
import json
import os
import signal
import socket
import sys
from multiprocessing import shared_memory
from typing import Optional, Sequence, Tuple

import numpy as np

from scalable_agent_tf2.structures import StepOutput, StepOutputInfo

# Instructions longer than this (DMLab language levels use a few words) are
# refused with an error rather than silently cut.
MAX_INSTRUCTION_BYTES = 1024
# The environment's own `level_name`, written once when it is ready.
MAX_LEVEL_NAME_BYTES = 256

STEP = b'S'
QUIT = b'Q'
READY = b'R'
DONE = b'D'

_ALIGN = 8


class StepSlot:
  """Numpy views of one environment step in a shared buffer.

  Attributes: action int32 [], reward float32 [], done bool [],
  episode_return float32 [], episode_step int32 [], episode_done bool [],
  frame uint8 [H, W, C], instruction_length int32 [], instruction uint8
  [MAX_INSTRUCTION_BYTES] (each a 0-d or n-d numpy view).
  """

  _SCALARS = (('action', np.int32), ('reward', np.float32), ('done', bool),
              ('episode_return', np.float32), ('episode_step', np.int32),
              ('episode_done', bool), ('instruction_length', np.int32),
              ('level_name_length', np.int32))

  def __init__(self, buffer, frame_shape: Sequence[int]):
    self.frame_shape = tuple(int(d) for d in frame_shape)
    offset = 0
    for name, dtype in self._SCALARS:
      setattr(self, name, np.ndarray([], dtype, buffer, offset))
      offset += _ALIGN
    self.instruction = np.ndarray([MAX_INSTRUCTION_BYTES], np.uint8, buffer,
                                  offset)
    offset += MAX_INSTRUCTION_BYTES
    self.level_name = np.ndarray([MAX_LEVEL_NAME_BYTES], np.uint8, buffer,
                                 offset)
    offset += MAX_LEVEL_NAME_BYTES
    self.frame = np.ndarray(self.frame_shape, np.uint8, buffer, offset)

  @classmethod
  def nbytes(cls, frame_shape: Sequence[int]) -> int:
    return (_ALIGN * len(cls._SCALARS) + MAX_INSTRUCTION_BYTES +
            MAX_LEVEL_NAME_BYTES + int(np.prod(frame_shape)))

  def write_level_name(self, name: str) -> None:
    text = name.encode()
    if len(text) > MAX_LEVEL_NAME_BYTES:
      raise ValueError(f'Level name longer than {MAX_LEVEL_NAME_BYTES} '
                       f'bytes: {name[:80]!r}...')
    self.level_name[:len(text)] = np.frombuffer(text, np.uint8)
    self.level_name_length[...] = len(text)

  def read_level_name(self) -> str:
    return self.level_name[:int(self.level_name_length)].tobytes().decode()

  def write(self, output: StepOutput) -> None:
    """Stores one environment StepOutput (worker side)."""
    frame, instruction = output.observation
    frame = np.asarray(frame)
    if frame.shape != self.frame_shape or frame.dtype != np.uint8:
      raise ValueError(f'The environment returned a frame of shape '
                       f'{frame.shape} {frame.dtype}; the host expects '
                       f'{self.frame_shape} uint8.')
    text = instruction if isinstance(instruction, bytes) else str(
        instruction).encode()
    if len(text) > MAX_INSTRUCTION_BYTES:
      raise ValueError(f'Instruction of {len(text)} bytes exceeds '
                       f'{MAX_INSTRUCTION_BYTES}: {text[:80]!r}...')
    self.frame[...] = frame
    self.instruction[:len(text)] = np.frombuffer(text, np.uint8)
    self.instruction_length[...] = len(text)
    self.reward[...] = output.reward
    self.done[...] = output.done
    self.episode_return[...] = output.info.episode_return
    self.episode_step[...] = output.info.episode_step
    self.episode_done[...] = output.info.episode_done

  def read(self) -> StepOutput:
    """A copy of the stored StepOutput with numpy scalars (host side)."""
    n = int(self.instruction_length)
    return StepOutput(
        reward=np.float32(self.reward),
        info=StepOutputInfo(np.float32(self.episode_return),
                            np.int32(self.episode_step),
                            bool(self.episode_done)),
        done=bool(self.done),
        observation=(self.frame.copy(), self.instruction[:n].tobytes()))


def _recv_byte(sock: socket.socket) -> bytes:
  """One message byte; b'' at end of file (or a reset connection)."""
  try:
    return sock.recv(1)
  except (ConnectionResetError, BrokenPipeError):
    return b''


def _attach(name: str) -> shared_memory.SharedMemory:
  """Maps the host's segment without handing it to a resource tracker.

  Python 3.11's tracker would unlink the host's segment when this worker
  exits (and start a tracker process here); the host owns the segment.
  """
  shm = shared_memory.SharedMemory(name=name, create=False)
  try:
    from multiprocessing import resource_tracker  # pylint: disable=g-import-not-at-top
    # pylint: disable-next=protected-access
    resource_tracker.unregister(shm._name, 'shared_memory')
  except (ImportError, AttributeError, KeyError):
    pass
  return shm


def serve(environment, slot: StepSlot, sock: socket.socket) -> int:
  """The worker loop: `initial()`, then one step per b'S'. Returns 0."""
  slot.write_level_name(environment.level_name)
  slot.write(environment.initial())
  sock.sendall(READY)
  while True:
    message = _recv_byte(sock)
    if message == STEP:
      slot.write(environment.step(int(slot.action)))
      sock.sendall(DONE)
    elif message in (QUIT, b''):  # Asked to quit, or the host is gone.
      return 0
    else:
      raise RuntimeError(f'Environment worker: unknown message {message!r}.')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog='python -m scalable_agent_tf2.runtime.env_worker',
      description='One environment of an actor host (TF-free).')
  for name in ('socket', 'shm', 'level', 'config'):
    parser.add_argument(f'--{name}', required=True)
  parser.add_argument('--seed', type=int, required=True)
  parser.add_argument('--logdir', default='',
                      help='the run\'s logdir (lets tools find the run\'s '
                      'workers by command line).')
  return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  # The host's death signal (SIGTERM) ends the worker at once.
  signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # pylint: disable=protected-access
  from scalable_agent_tf2 import config as config_lib  # pylint: disable=g-import-not-at-top
  from scalable_agent_tf2 import suites  # pylint: disable=g-import-not-at-top
  config = config_lib.Config(**json.loads(args.config))
  suite = suites.get(config.env)
  frame_shape = suite.frame_shape(config)
  shm = _attach(args.shm)
  sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  sock.connect(args.socket)
  from scalable_agent_tf2 import environment as environment_lib  # pylint: disable=g-import-not-at-top
  environment = environment_lib.with_slow_restarts(
      suite.make_environment(config, args.level, seed=args.seed), config,
      args.seed)
  try:
    return serve(environment, StepSlot(shm.buf, frame_shape), sock)
  finally:
    environment.close()
    sock.close()


def worker_argv(socket_path: str, shm_name: str, level: str, seed: int,
                logdir: str, config_json: str) -> Tuple[str, ...]:
  """The command line of one worker (see the module docstring)."""
  return (sys.executable, '-m', 'scalable_agent_tf2.runtime.env_worker',
          f'--socket={socket_path}', f'--shm={shm_name}', f'--level={level}',
          f'--seed={seed}', f'--logdir={logdir}', f'--config={config_json}')


if __name__ == '__main__':
  sys.exit(main())
