"""Typed journal records and the journal reader, without a kernel: every shape this
runtime writes round-trips, and anything else is refused as data (never an exception
that would end as exit 70)."""

from __future__ import annotations

import json
import os

import pytest

from tatara_build.runtime import records
from tatara_build.runtime.records import BadRecord, CgroupDetach, RmdirEmpty, TcFilterDel, Unpin
from tatara_build.runtime.state import Journal

GOOD = [Unpin("/sys/fs/bpf/t/p/maps/m"), RmdirEmpty(("/sys/fs/bpf/t/p", "/sys/fs/bpf/t/p/maps")),
        TcFilterDel("eth0", "ingress", 1234, "ns1"),
        CgroupDetach("/sys/fs/cgroup/x", "egress", "rt_cg", "0123456789abcdef", 7)]


@pytest.mark.parametrize("rec", GOOD, ids=lambda r: r.op)
def test_records_round_trip(rec):
    assert records.parse(json.loads(json.dumps(records.dump(rec)))) == rec


@pytest.mark.parametrize("data", [
    [1], "unpin", {"op": "rm-rf", "path": "/"}, {"op": "unpin"},
    {"op": "unpin", "path": "relative"}, {"op": "unpin", "path": "/a\nb"},
    {"op": "unpin", "path": "/x", "extra": 1},
    {"op": "tc-filter-del", "dev": "eth0", "dir": "sideways", "pref": 1, "netns": None},
    {"op": "tc-filter-del", "dev": "eth0", "dir": "ingress", "pref": True, "netns": None},
    {"op": "tc-filter-del", "dev": "eth0", "dir": "ingress", "pref": 1, "netns": "../../x"},
    {"op": "xdp-detach", "dev": "e th0", "netns": None, "name": "x", "tag": "0" * 16},
    {"op": "cgroup-detach", "cgroup": "/c", "dir": "egress", "name": "x", "tag": "zz", "id": 1},
])
def test_foreign_records_are_refused(data):
    with pytest.raises(BadRecord):
        records.parse(data)


@pytest.mark.parametrize("content", [
    os.urandom(64), b"", b"[1,2]", b'{"status": "\xff"}', b'{"status": "weird"}',
    b'{"status": "applied", "applied": {"objects": [1]}}',
    b'{"status": "applied", "applied": {"netns": "../../proc/1/ns/net"}}',
    b'{"status": "applied", "applied": {"attach": {"p": [{"op": "unpin", "path": "x"}]}}}',
])
def test_unreadable_journal_is_marked_corrupt(tmp_path, monkeypatch, content):
    monkeypatch.setenv("TATARA_STATE_DIR", str(tmp_path))
    (tmp_path / "pol.json").write_bytes(content)
    j = Journal("pol")
    if content:
        assert j.corrupt and j.status == "absent" and j.applied == {}
    else:
        assert j.corrupt  # an empty state file is not one this runtime writes


def test_torn_last_step_is_ignored_but_a_bad_middle_one_is_not(tmp_path, monkeypatch):
    monkeypatch.setenv("TATARA_STATE_DIR", str(tmp_path))
    (tmp_path / "pol.json").write_text('{"status": "applying", "applied": {}}')
    good = json.dumps(records.dump(GOOD[0]))
    (tmp_path / "pol.steps.jsonl").write_text(good + '\n{"ok": 1}\n{"op": "unp')
    j = Journal("pol")
    assert j.data["steps"] == [GOOD[0]] and j.confirmed == 1 and not j.corrupt
    (tmp_path / "pol.steps.jsonl").write_text('{"op": "rm-rf"}\n' + good + "\n")
    j = Journal("pol")
    assert j.corrupt and j.data["steps"] == []


def test_journal_writes_ahead_and_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("TATARA_STATE_DIR", str(tmp_path))
    j = Journal("pol")
    j.begin()
    j.intend(*GOOD[:2])
    j.confirm()
    again = Journal("pol")
    assert again.interrupted and again.data["steps"] == GOOD[:2] and again.confirmed == 1
    j.finish({"objects": {"a.bpf.o": "0" * 64}, "attach": {"p": GOOD[2:]}, "netns": "ns1"})
    done = Journal("pol")
    assert done.status == "applied" and done.applied["attach"]["p"] == GOOD[2:]
    assert not (tmp_path / "pol.steps.jsonl").exists()
