"""TCP helpers shared by the launcher, actors and transport (no TensorFlow).

Kept free of TensorFlow so the local launcher, which only supervises, can use
them without importing it.
"""

import socket


def free_port(host: str = 'localhost') -> int:
  """A TCP port that is free on `host` right now."""
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind((host, 0))
    return s.getsockname()[1]


def server_reachable(address: str, timeout: float = 1.0) -> bool:
  """Whether a TCP connection to host:port succeeds.

  TensorFlow's first remote op to a server that is not up waits forever, so
  callers probe the learner's port first and bound their own retries.
  """
  host, _, port = address.rpartition(':')
  try:
    with socket.create_connection((host.strip('[]'), int(port)),
                                  timeout=timeout):
      return True
  except OSError:
    return False
