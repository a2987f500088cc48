"""The resource API over raw HTTP: Status errors, conditional writes, patch types, selectors and
paging, Tables, and watches that resume from a list's resourceVersion and see other processes."""

from __future__ import annotations

import copy
import json
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from pykatib_server import BASE, Server
from standins import STANDINS, katib_example, rewrite_commands

EXPERIMENTS = f"{BASE}/namespaces/default/experiments"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def experiment(name: str, trials: int = 2, seconds: float = 60, **spec: Any) -> dict[str, Any]:
    """Katib's random example whose one trial at a time sleeps ``seconds`` (then exits with
    no metrics), so that it stays Running while the test changes it."""
    exp = rewrite_commands(katib_example("hp-tuning/random.yaml"), STANDINS)
    exp["metadata"] = {"name": name, "namespace": "default"}
    exp["spec"].update(
        maxTrialCount=trials, parallelTrialCount=1, maxFailedTrialCount=trials, **spec
    )
    container = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    container["containers"][0]["command"] = [
        sys.executable,
        "-c",
        f"import time; time.sleep({seconds})",
        "--lr=${trialParameters.learningRate}",
        "--momentum=${trialParameters.momentum}",
    ]
    return exp


def is_status(response: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == code, body
    assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
    assert body["status"] == "Failure" and body["code"] == code and body["reason"] == reason
    assert body["message"]
    return body


def test_errors_are_status_bodies(server: Server) -> None:
    with server.client() as c:
        body = is_status(c.get(f"{EXPERIMENTS}/nope"), 404, "NotFound")
        assert body["message"] == 'experiments.kubeflow.org "nope" not found'
        assert body["details"] == {"name": "nope", "group": "kubeflow.org", "kind": "experiments"}
        is_status(c.get("/apis/kubeflow.org/v1beta1/namespaces/default/pods"), 404, "NotFound")
        is_status(c.get("/no/such/path"), 404, "NotFound")
        is_status(c.post(EXPERIMENTS, content=b"{not json"), 400, "BadRequest")
        is_status(c.post(f"{BASE}/namespaces/default/trials", json={}), 405, "MethodNotAllowed")

        bad = experiment("bad")
        bad["spec"]["algorithm"]["algorithmName"] = "simulated-annealing"
        bad["spec"]["parallelTrialCount"] = -1
        body = is_status(c.post(EXPERIMENTS, json=bad), 422, "Invalid")
        fields = {cause["field"] for cause in body["details"]["causes"]}
        assert {"spec.algorithm.algorithmName", "spec.parallelTrialCount"} <= fields
        assert body["message"].startswith('Experiment.kubeflow.org "bad" is invalid: ')
        assert is_status(c.post(EXPERIMENTS, json={**bad, "bogus": 1}), 422, "Invalid")
        other_ns = experiment("elsewhere")
        other_ns["metadata"]["namespace"] = "kubeflow"
        is_status(c.post(EXPERIMENTS, json=other_ns), 400, "BadRequest")

        assert c.post(EXPERIMENTS, json=experiment("once")).status_code == 201
        body = is_status(c.post(EXPERIMENTS, json=experiment("once")), 409, "AlreadyExists")
        assert body["message"] == 'experiments.kubeflow.org "once" already exists'
        is_status(
            c.patch(f"{EXPERIMENTS}/once", content=b"{}", headers={"Content-Type": "text/plain"}),
            415,
            "UnsupportedMediaType",
        )
        too_big = b'{"a": "' + b"x" * (5 * 1024 * 1024) + b'"}'
        is_status(c.post(EXPERIMENTS, content=too_big), 413, "RequestEntityTooLarge")
        # Nothing of the refused requests was stored.
        names = [e["metadata"]["name"] for e in c.get(EXPERIMENTS).json()["items"]]
        assert names == ["once"]


def test_conditional_writes_and_patch_types(server: Server) -> None:
    with server.client() as c:
        created = c.post(
            EXPERIMENTS, json={**experiment("", 10), "metadata": {"generateName": "g-"}}
        )
        assert created.status_code == 201
        exp = created.json()
        name = exp["metadata"]["name"]
        assert name.startswith("g-") and len(name) == 7
        url = f"{EXPERIMENTS}/{name}"
        c.get(url)

        stale = copy.deepcopy(exp)
        stale["spec"]["maxTrialCount"] = 3
        # Bump the version with a label, then replace from the old version: 409 Conflict.
        labelled = c.patch(
            url,
            json={"metadata": {"labels": {"team": "a"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert labelled.status_code == 200, labelled.json()
        assert labelled.json()["metadata"]["labels"] == {"team": "a"}
        body = is_status(c.put(url, json=stale), 409, "Conflict")
        assert "the object has been modified" in body["message"]
        fresh = c.get(url).json()
        is_status(c.put(url, json={**fresh, "metadata": {"name": name}}), 422, "Invalid")

        patched = c.patch(
            url,
            json=[{"op": "replace", "path": "/spec/parallelTrialCount", "value": 2}],
            headers={"Content-Type": "application/json-patch+json"},
        )
        assert patched.status_code == 200 and patched.json()["spec"]["parallelTrialCount"] == 2
        strategic = c.patch(
            url,
            json={"spec": {"maxFailedTrialCount": 2}},
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        assert strategic.json()["spec"]["maxFailedTrialCount"] == 2
        refused = c.patch(
            url,
            json={"spec": {"algorithm": {"algorithmName": "tpe"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        body = is_status(refused, 422, "Invalid")
        assert [cause["field"] for cause in body["details"]["causes"]] == ["spec.algorithm"]
        pinned = c.patch(
            url,
            json={"metadata": {"resourceVersion": "1"}, "spec": {"maxFailedTrialCount": 1}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        is_status(pinned, 409, "Conflict")

        # Server-side apply, as `kubectl apply --server-side` sends it: creates, then merges.
        applied = experiment("ssa")
        response = c.patch(
            f"{EXPERIMENTS}/ssa?fieldManager=kubectl&force=true",
            content=yaml.safe_dump(applied),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert response.status_code == 201, response.json()
        applied["spec"]["maxTrialCount"] = 5
        response = c.patch(
            f"{EXPERIMENTS}/ssa?fieldManager=kubectl&force=true",
            content=yaml.safe_dump(applied),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert response.status_code == 200 and response.json()["spec"]["maxTrialCount"] == 5

        deleted = c.delete(url)
        assert deleted.status_code == 200 and deleted.json()["metadata"]["name"] == name
        is_status(c.delete(url), 404, "NotFound")


MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def test_a_value_of_the_wrong_json_type_is_invalid_and_changes_nothing(server: Server) -> None:
    """``true`` is no count, nor ``"5"`` (Python's bool is an int, and pydantic's lax mode
    parses strings): 422 Invalid naming the field and what it takes, by every write."""
    with server.client() as c:
        assert c.post(EXPERIMENTS, json=experiment("typed", 10)).status_code == 201
        url = f"{EXPERIMENTS}/typed"
        spec = c.get(url).json()["spec"]
        writes = [
            (c.patch, {"spec": {"maxTrialCount": True}}, MERGE, "spec.maxTrialCount", "a boolean"),
            (
                c.patch,
                {"spec": {"maxTrialCount": "12"}},
                MERGE,
                "spec.maxTrialCount",
                "not a string ('12'); write it without quotes",
            ),
            (c.patch, {"spec": {"maxTrialCount": 12.5}}, MERGE, "spec.maxTrialCount", "a fraction"),
            (
                c.patch,
                [{"op": "replace", "path": "/spec/parallelTrialCount", "value": False}],
                JSON_PATCH,
                "spec.parallelTrialCount",
                "a boolean",
            ),
            (
                c.patch,
                {"spec": {"objective": {"goal": "0.5"}}},
                MERGE,
                "spec.objective.goal",
                "must be a number",
            ),
            (
                c.patch,
                {"spec": {"trialTemplate": {"retain": 1}}},
                MERGE,
                "spec.trialTemplate.retain",
                "must be true or false",
            ),
        ]
        for write, body, headers, field, says in writes:
            refused = is_status(write(url, json=body, headers=headers), 422, "Invalid")
            causes = refused["details"]["causes"]
            assert [cause["field"] for cause in causes] == [field], refused
            assert says in causes[0]["message"], refused
        # The control plane writes status as trials run: a PUT of a read it has overtaken is a
        # 409 (Kubernetes checks the version before the body), so read again, as clients do.
        for _ in range(50):
            replaced = {**c.get(url).json()}
            replaced["spec"] = {**replaced["spec"], "maxFailedTrialCount": True}
            answer = c.put(url, json=replaced)
            if answer.status_code != 409:
                break
        body = is_status(answer, 422, "Invalid")
        assert (
            "spec.maxFailedTrialCount: must be an integer, not a boolean (true)" in body["message"]
        )
        created = experiment("typed-too")
        created["spec"]["maxTrialCount"] = "3"
        is_status(c.post(EXPERIMENTS, json=created), 422, "Invalid")
        assert c.get(f"{EXPERIMENTS}/typed-too").status_code == 404
        assert c.get(url).json()["spec"] == spec
        # A whole number is an integer in JSON: 12.0 is 12.
        accepted = c.patch(url, json={"spec": {"maxTrialCount": 12.0}}, headers=MERGE)
        assert accepted.status_code == 200 and accepted.json()["spec"]["maxTrialCount"] == 12


def test_lists_selectors_paging_and_tables(server: Server) -> None:
    with server.client() as c:
        for n in range(3):
            exp = experiment(f"e{n}")
            exp["metadata"]["labels"] = {"tier": "gold" if n else "silver"}
            assert c.post(EXPERIMENTS, json=exp).status_code == 201
        names = lambda r: [i["metadata"]["name"] for i in r.json()["items"]]
        assert names(c.get(EXPERIMENTS, params={"labelSelector": "tier=gold"})) == ["e1", "e2"]
        assert names(c.get(EXPERIMENTS, params={"labelSelector": "tier notin (gold)"})) == ["e0"]
        assert names(c.get(EXPERIMENTS, params={"fieldSelector": "metadata.name=e2"})) == ["e2"]
        is_status(c.get(EXPERIMENTS, params={"labelSelector": "a in (b"}), 400, "BadRequest")
        first = c.get(EXPERIMENTS, params={"limit": 2})
        assert names(first) == ["e0", "e1"]
        assert first.json()["metadata"]["remainingItemCount"] == 1
        token = first.json()["metadata"]["continue"]
        assert names(c.get(EXPERIMENTS, params={"limit": 2, "continue": token})) == ["e2"]
        assert names(c.get(f"{BASE}/experiments")) == ["e0", "e1", "e2"]

        table = c.get(EXPERIMENTS, headers={"Accept": TABLE}).json()
        assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
        columns = [col["name"] for col in table["columnDefinitions"]]
        assert columns == ["Name", "Type", "Status", "Age"]
        assert [row["cells"][0] for row in table["rows"]] == ["e0", "e1", "e2"]
        assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
        suggestions = c.get(f"{BASE}/namespaces/default/suggestions", headers={"Accept": TABLE})
        columns = [col["name"] for col in suggestions.json()["columnDefinitions"]]
        assert columns == ["Name", "Type", "Status", "Requested", "Assigned", "Age"]


def test_malformed_query_parameters_are_bad_requests(server: Server) -> None:
    """Each names the parameter and what it takes; none is ignored, none streams first."""
    with server.client() as c:
        assert c.post(EXPERIMENTS, json=experiment("e0")).status_code == 201
        for params, says in (
            ({"limit": "ten"}, "limit: 'ten' is not an integer"),
            ({"limit": "-1"}, "limit: must be an integer from 0, not -1"),
            ({"watch": "true", "timeoutSeconds": "1.5"}, "timeoutSeconds: '1.5' is not an"),
            ({"fieldSelector": "spec.algorithm=random"}, 'field label not supported: "spec.'),
            # Before the stream begins: the watch's first object would have raised it mid-way.
            ({"watch": "true", "fieldSelector": "status=x"}, "supported: metadata.name, meta"),
            ({"watch": "yes"}, "watch: 'yes' is not a boolean; use true or false"),
        ):
            body = is_status(c.get(EXPERIMENTS, params=params), 400, "BadRequest")
            assert says in body["message"], (params, body)
        pods = "/api/v1/namespaces/default/pods"
        body = is_status(c.get(pods, params={"fieldSelector": "spec.x=1"}), 400, "BadRequest")
        assert "status.phase" in body["message"]
        events = "/api/v1/namespaces/default/events"
        body = is_status(c.get(events, params={"fieldSelector": "x=1"}), 400, "BadRequest")
        assert "involvedObject.name" in body["message"]
        # Booleans as Go's ParseBool reads them: the kubernetes Python client sends "True".
        watch = {"watch": "True", "timeoutSeconds": "1"}
        with c.stream("GET", EXPERIMENTS, params=watch) as events_of:
            # A watch, not a list: e0 ADDED first (the control plane may modify it meanwhile).
            types = [json.loads(line)["type"] for line in events_of.iter_lines()]
            assert types[0] == "ADDED" and set(types) <= {"ADDED", "MODIFIED"}, types


GATED = (
    "import os, sys, time\n"
    "print('line1\\nline2\\nline3', flush=True)\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.05)\n"
    "print('end', flush=True)\n"
)


def test_a_followed_pod_log_tails_and_limits_as_kubernetes_does(
    server: Server, tmp_path: Path
) -> None:
    """``follow`` with ``tailLines``: the last lines so far, then what comes, to the trial's end;
    with ``limitBytes``: that many bytes, then the end, though the trial runs on."""
    gate = tmp_path / "gate"
    exp = experiment("gated", 1)
    container = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    command = container["containers"][0]["command"]
    command[1:] = ["-c", GATED, str(gate), *command[-2:]]  # the --lr, --momentum
    pods = "/api/v1/namespaces/default/pods"
    with server.client() as c:
        assert c.post(EXPERIMENTS, json=exp).status_code == 201
        deadline = time.monotonic() + 30
        log = ""
        while "line3" not in log:  # the trial's first lines written (it then waits for gate)
            assert time.monotonic() < deadline, log
            found = c.get(pods, params={"labelSelector": "katib.kubeflow.org/experiment=gated"})
            items = found.json()["items"]
            log = c.get(f"{pods}/{items[0]['metadata']['name']}/log").text if items else ""
            time.sleep(0.05)  # a poll's pace: the loop waits for the log, not for a time
        url = f"{pods}/{items[0]['metadata']['name']}/log"
        assert c.get(url, params={"follow": "true", "limitBytes": "3"}).text == "lin"
        received = []
        with c.stream("GET", url, params={"follow": "true", "tailLines": "1"}) as stream:
            for chunk in stream.iter_text():
                received.append(chunk)
                if "".join(received) == "line3\n":
                    gate.touch()  # the trial ends now
        assert "".join(received) == "line3\nend\n"
        trial = c.get(f"{BASE}/namespaces/default/trials/{items[0]['metadata']['name']}").json()
        assert trial["status"]["conditions"][-1]["type"] in ("Succeeded", "MetricsUnavailable")


class Watch:
    """A watch stream read in a thread, its events queued."""

    def __init__(self, client: httpx.Client, url: str, params: dict[str, str]) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._stream = client.stream("GET", url, params={**params, "watch": "true"}, timeout=None)
        self._response = self._stream.__enter__()
        assert self._response.status_code == 200
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._response.iter_lines():
                if line:
                    self.events.put(json.loads(line))
        except httpx.HTTPError:
            pass

    def until(self, type_: str, name: str, timeout: float = 30) -> dict[str, Any]:
        """The first event of ``type_`` about ``name``, in any order with the others."""
        while True:
            for event in self.seen:
                if event["type"] == type_ and event["object"]["metadata"]["name"] == name:
                    return event
            self.seen.append(self.events.get(timeout=timeout))

    def close(self) -> None:
        self._response.close()


def test_watch_resumes_and_sees_other_processes(server: Server, tmp_path: Path) -> None:
    with server.client() as c, server.client() as w:
        assert c.post(EXPERIMENTS, json=experiment("before")).status_code == 201
        listed = c.get(EXPERIMENTS).json()
        version = listed["metadata"]["resourceVersion"]
        # Changed between the list and the watch, by another process on the same database.
        path = tmp_path / "later.yaml"
        path.write_text(yaml.safe_dump_all([experiment("later"), experiment("before", 3)]))
        applied = server.pykatib("apply", "-f", str(path))
        assert applied.returncode == 0, applied.stderr
        watch = Watch(w, EXPERIMENTS, {"resourceVersion": version})
        try:
            added = watch.until("ADDED", "later")
            assert added["object"]["kind"] == "Experiment"
            modified = watch.until("MODIFIED", "before")
            assert modified["object"]["spec"]["maxTrialCount"] == 3
            deleted = server.pykatib("delete", "experiment", "later")
            assert deleted.returncode == 0, deleted.stderr
            watch.until("DELETED", "later")
        finally:
            watch.close()
        # A version that is not a list's is 410 Gone: the client lists again.
        is_status(
            c.get(EXPERIMENTS, params={"watch": "true", "resourceVersion": "7"}), 410, "Expired"
        )
        # From 0: every object, ADDED.
        watch = Watch(w, EXPERIMENTS, {"resourceVersion": "0", "labelSelector": "x!=y"})
        try:
            watch.until("ADDED", "before")
        finally:
            watch.close()
