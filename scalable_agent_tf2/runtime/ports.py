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


class PortInUseError(OSError):
  """The port a server must listen on is taken."""


def check_listen_port_free(address: str) -> None:
  """Refuses, naming the port, when a server could not listen at `address`.

  TensorFlow's server listens on every interface; its own failure is an
  unnamed 'Could not start gRPC server'. The probe sets SO_REUSEADDR like
  gRPC does, so connections of a previous server in TIME_WAIT (a restarted
  learner) do not count as in use, only a listening socket does.

  Raises:
    PortInUseError: something listens on the port.
  """
  _, _, port = address.rpartition(':')
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      s.bind(('', int(port)))
    except OSError as e:
      raise PortInUseError(
          f'Port {port} of --learner_address={address} is already in use '
          f'({e.strerror}): another learner or program listens there. Stop '
          'it or choose another port.') from None
