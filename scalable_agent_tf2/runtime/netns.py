"""A private network namespace for the single-machine cluster.

TensorFlow's cluster servers listen on ALL interfaces (0.0.0.0:<port>) and
have no authentication: anyone who can reach the port can run ops in the
process (docs/impala.md §8, Security). A local run therefore moves the
launcher, and so every learner and actor process it starts, into a new network
namespace holding only a loopback interface, before any server starts.

Linux only. Needs root or unprivileged user namespaces; when neither is
available the caller logs that the cluster is reachable from the network.
"""

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct
import threading

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


class NetnsUnavailable(OSError):
  pass


def _unshare(flags: int) -> None:
  libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6',
                     use_errno=True)
  if libc.unshare(flags) != 0:
    errno = ctypes.get_errno()
    raise NetnsUnavailable(errno, os.strerror(errno))


def _write(path: str, text: str) -> None:
  with open(path, 'w') as f:
    f.write(text)


def _loopback_up() -> None:
  with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    ifreq = struct.pack('16sH14x', b'lo', 0)
    flags = struct.unpack('16sH14x', fcntl.ioctl(s, _SIOCGIFFLAGS, ifreq))[1]
    fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack('16sH14x', b'lo',
                                               flags | _IFF_UP))


def enter_private_network() -> str:
  """Moves this process into a new network namespace with only `lo` up.

  Must be called before any thread or server starts (user namespaces require
  a single-threaded process). Returns a short description of what was done.

  Raises:
    NetnsUnavailable: the OS does not allow it (the caller decides).
  """
  if not os.uname().sysname == 'Linux':
    raise NetnsUnavailable('network namespaces need Linux')
  if threading.active_count() > 1:
    raise NetnsUnavailable('the process already runs threads')
  if os.geteuid() == 0:
    _unshare(CLONE_NEWNET)
    how = 'network namespace (root)'
  else:
    uid, gid = os.geteuid(), os.getegid()
    _unshare(CLONE_NEWUSER | CLONE_NEWNET)
    # Map our own ids so files written in the logdir keep their owner.
    _write('/proc/self/setgroups', 'deny')
    _write('/proc/self/uid_map', f'{uid} {uid} 1')
    _write('/proc/self/gid_map', f'{gid} {gid} 1')
    how = 'user + network namespace'
  _loopback_up()
  return how

