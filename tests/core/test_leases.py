"""A lease holder is judged gone only when it surely is: on this host, in this pid namespace, pid absent."""

from __future__ import annotations

import subprocess
import sys

from responder.execute import worker_id
from responder.leases import host, owner_alive, owner_name, process_tag


def finished_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_this_process_is_alive_in_both_forms() -> None:
    assert owner_alive(owner_name())
    assert owner_alive(worker_id() + "/lease-token")


def test_a_finished_process_on_this_host_and_namespace_is_gone() -> None:
    namespace = process_tag().split(".")[1]
    pid = finished_pid()
    assert not owner_alive(f"{host()}/{pid}.{namespace}/abc123")
    assert not owner_alive(f"{host()}:{pid}.{namespace}:abcd1234/lease")


def test_anything_not_provably_gone_counts_as_alive() -> None:
    namespace = process_tag().split(".")[1]
    pid = finished_pid()
    assert owner_alive(f"another-host/{pid}.{namespace}/abc123")  # its pids are not ours to look up
    assert owner_alive(f"{host()}/{pid}.{int(namespace) + 1}/abc123")  # another container on this host
    assert owner_alive(f"{host()}/{pid}/abc123")  # an old-style name without a namespace
    assert owner_alive("garbage")
    assert owner_alive(f"{host()}/99999999999999999999.{namespace}/x")
