"""Lease holders: which processes are known dead."""

import os
import socket
import subprocess
import sys

from bot.engine.identity import is_dead, process_id


def test_a_process_that_exited_is_dead_and_a_running_one_is_not() -> None:
    me = process_id()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = socket.gethostname()
    assert is_dead(f"{host}:{child.pid}:abcd", me=me)
    assert not is_dead(f"{host}:{os.getppid()}:abcd", me=me)
    assert not is_dead(me, me=me)


def test_an_earlier_life_under_the_same_pid_is_dead() -> None:
    me = process_id()
    assert is_dead(f"{socket.gethostname()}:{os.getpid()}:0ld0ld", me=me)


def test_other_hosts_are_never_known_dead() -> None:
    assert not is_dead("elsewhere:1:abcd", me=process_id())
