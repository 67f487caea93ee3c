"""The host's side of its environment workers (runtime/env_worker.py).

`EnvWorker` owns one worker: its shared-memory slot, its socket and its
supervised process (`runtime.processes`). It is a small state machine driven
by the host's `select` loop (docs/actor_hosts.md):

  STARTING  process started, waiting for it to connect and send b'R';
  IDLE      its latest StepOutput is in `output`, no step in flight;
  STEPPING  b'S' sent, waiting for b'D';
  DEAD      the process exited (end of file on the socket).

`restart()` starts the same environment again (same level, same seed) into
the same slot. TF-free.
"""

import os
import socket
import tempfile
from multiprocessing import shared_memory
from typing import Dict, List, Optional

from scalable_agent_tf2.runtime import env_worker
from scalable_agent_tf2.runtime import processes

STARTING = 'starting'
IDLE = 'idle'
STEPPING = 'stepping'
DEAD = 'dead'

# Events of `EnvWorker.on_readable`.
EVENT_READY = 'ready'  # (Re)started: `output` is the initial StepOutput.
EVENT_DONE = 'done'  # A step finished: `output` is its StepOutput.
EVENT_DIED = 'died'  # The process died; call restart().


class EnvWorker:
  """One environment worker process and its slot.

  Args:
    name: for messages, e.g. 'env worker 5'.
    level, seed: what the worker's environment plays (fixed for its life,
      and across restarts).
    frame_shape: (H, W, C) of its frames.
    config_json: the resolved Config as JSON (the worker rebuilds it).
    socket_dir: a private directory for the Unix socket.
    logdir: the run's logdir (on the worker's command line).
    log_path: file the worker's output is appended to (None: inherit).
  """

  def __init__(self, name: str, level: str, seed: int, frame_shape,
               config_json: str, socket_dir: str, logdir: str,
               log_path: Optional[str] = None,
               env: Optional[Dict[str, str]] = None):
    self.name, self.level, self.seed = name, level, seed
    self._shm = shared_memory.SharedMemory(
        create=True, size=env_worker.StepSlot.nbytes(frame_shape))
    self.slot = env_worker.StepSlot(self._shm.buf, frame_shape)
    self._socket_path = os.path.join(socket_dir,
                                     f'{name.replace(" ", "_")}.sock')
    self._argv = env_worker.worker_argv(self._socket_path, self._shm.name,
                                        level, seed, logdir, config_json)
    self._log_path, self._env = log_path, env
    self.child: Optional[processes.Child] = None
    self._listener: Optional[socket.socket] = None
    self._conn: Optional[socket.socket] = None
    self.state = DEAD
    self.output = None
    self.restarts = 0

  def start(self) -> None:
    """Starts the process; it reports EVENT_READY once its env is built."""
    self._close_sockets()
    if os.path.exists(self._socket_path):
      os.unlink(self._socket_path)
    self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    self._listener.bind(self._socket_path)
    self._listener.listen(1)
    self.child = processes.Child(self.name, self._argv,
                                 log_path=self._log_path, env=self._env)
    self.child.start()
    self.state = STARTING

  def restart(self) -> None:
    """Starts the same environment (same level and seed) again."""
    if self.child is not None and self.child.running:
      self.child.signal(9)
      self.child.wait(timeout=10)
    self.restarts += 1
    self.start()

  def fileno(self) -> int:
    """What `select` waits on: the listener until connected, then the
    socket."""
    sock = self._conn if self._conn is not None else self._listener
    return sock.fileno()

  def send_step(self, action: int) -> None:
    """Writes `action` into the slot and starts the step (state IDLE)."""
    if self.state != IDLE:
      raise RuntimeError(f'{self.name}: step requested in state '
                         f'{self.state}.')
    self.slot.action[...] = action
    try:
      self._conn.sendall(env_worker.STEP)
      self.state = STEPPING
    except OSError:
      self.state = STEPPING  # The next read reports the death.

  def on_readable(self) -> Optional[str]:
    """Handles what `select` reported; returns an EVENT_* or None."""
    if self._conn is None:
      self._conn, _ = self._listener.accept()
      self._listener.close()
      self._listener = None
      return None
    message = env_worker._recv_byte(self._conn)  # pylint: disable=protected-access
    expected = env_worker.READY if self.state == STARTING else env_worker.DONE
    if message != expected:
      self._mark_dead()
      return EVENT_DIED
    self.output = self.slot.read()
    self.state = IDLE
    return EVENT_READY if message == env_worker.READY else EVENT_DONE

  def died_while_starting(self) -> bool:
    """True (and state DEAD) if the process exited before connecting."""
    if self.state == STARTING and self._conn is None and (
        self.child is None or not self.child.running):
      self._mark_dead()
      return True
    return False

  def exit_description(self) -> str:
    code = None if self.child is None else self.child.wait(timeout=5)
    return processes.describe_exit(code)

  def _mark_dead(self) -> None:
    self._close_sockets()
    self.state = DEAD

  def _close_sockets(self) -> None:
    for sock in (self._conn, self._listener):
      if sock is not None:
        sock.close()
    self._conn = self._listener = None

  def request_quit(self) -> None:
    """Asks the worker to close its environment and exit (no wait)."""
    if self._conn is not None:
      try:
        self._conn.sendall(env_worker.QUIT)
      except OSError:
        pass

  def release(self) -> None:
    """Closes the sockets and frees the slot (the process has stopped)."""
    self._close_sockets()
    self.slot = None
    try:
      self._shm.close()
    except BufferError:
      pass  # A view is still referenced somewhere; unlink frees it anyway.
    try:
      self._shm.unlink()
    except FileNotFoundError:
      pass

  def close(self) -> None:
    """Asks the worker to quit, stops it, frees the slot."""
    close_all([self])


def socket_directory() -> str:
  """A private directory for one host's worker sockets."""
  return tempfile.mkdtemp(prefix='actor_host_')


def close_all(workers: List[EnvWorker], grace_secs: float = 5.0) -> None:
  """Stops every worker together (quit, then SIGTERM / SIGKILL after
  `grace_secs`) and frees their slots."""
  for worker in workers:
    worker.request_quit()
  processes.stop([w.child for w in workers if w.child is not None],
                 grace_secs)
  for worker in workers:
    worker.release()
