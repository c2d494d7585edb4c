"""Which records of the previous apply a re-apply retires (runtime/retire.py `stale`):
hooks the new apply does not hold, filters before the qdisc they sit on."""

from __future__ import annotations

from tatara_build.runtime.records import CgroupDetach, TcFilterDel, TcQdiscDel, Unpin, XdpDetach
from tatara_build.runtime.retire import stale

TAG = "0123456789abcdef"


def _applied(ns: str, tc_name: str = "t", pref: int = 1100) -> dict:
    return {"netns": ns, "attach": {
        "x": [XdpDetach("eth0", ns, "x", TAG)],
        tc_name: [TcQdiscDel("eth0", ns), TcFilterDel("eth0", "ingress", pref, ns)]}}


def test_netns_change_retires_every_hook_of_the_old_namespace_qdisc_last():
    old, new = _applied("a"), _applied("b")["attach"]
    got = stale(old, new)
    assert {r.netns for _, r in got} == {"a"}
    assert [type(r) for _, r in got][-1] is TcQdiscDel and len(got) == 3


def test_same_hooks_with_a_new_tag_are_not_retired():
    old = _applied("a")
    new = {"x": [XdpDetach("eth0", "a", "x", "f" * 16)],
           "t": [TcFilterDel("eth0", "ingress", 1100, "a")]}
    assert stale(old, new) == []  # the qdisc too: the new filter sits on it


def test_renamed_tc_program_retires_its_filter_only():
    old = _applied("a", tc_name="t", pref=1100)
    new = {"x": [XdpDetach("eth0", "a", "x", TAG)],
           "t2": [TcFilterDel("eth0", "ingress", 2200, "a")]}
    assert stale(old, new) == [("t", TcFilterDel("eth0", "ingress", 1100, "a"))]


def test_links_and_cgroup_copies():
    old = {"attach": {"tp": [Unpin("/sys/fs/bpf/p/links/tp")],
                      "cg": [CgroupDetach("/sys/fs/cgroup/x", "egress", "cg", TAG, 7)]}}
    new = {"tp": [Unpin("/sys/fs/bpf/p/links/tp")],
           "cg": [CgroupDetach("/sys/fs/cgroup/x", "egress", "cg", TAG, 8)]}
    assert stale(old, new) == [("cg", CgroupDetach("/sys/fs/cgroup/x", "egress", "cg", TAG, 7))]
    assert stale({}, new) == [] and stale({"attach": "junk"}, new) == []
