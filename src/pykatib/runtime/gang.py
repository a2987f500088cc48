"""Runs a training job's replicas together, as one attempt of a trial: ``python -I -S gang.py PLAN``.

The shim (:mod:`pykatib.runtime.shim`) runs this file as the trial's command, so an attempt of a
PyTorchJob is watched, stopped, timed out, retried and adopted exactly as a Job's one process
is. It uses the standard library only (it starts in milliseconds, outside pykatib's package),
and reads the plan that :mod:`pykatib.runtime.attempt` wrote (JSON)::

    {"grace": 5.0, "states": ".../replicas.json", "success": "leader",
     "replicas": [{"name": "master-0", "argv": [...], "cwd": "...", "env": {...},
                   "log": null, "memory": null, "leader": true}, ...]}

Each replica runs in this process group (a stop signals the group: every replica gets it), its
output to its own ``log`` file, or, for the primary replica (``log`` null), to this process's
output: the attempt's log, which the metrics collector reads. ``states`` is rewritten whenever a
replica ends: ``{"master-0": {"state": "succeeded", "exitCode": 0}, ...}``.

The job ends as the training operator ends it: it succeeds when the leader succeeds (``success:
"leader"``; ``"all"``: when every replica has), and the replicas still running are given the
grace period to end, then stopped; it fails as soon as a replica fails, naming it, and the others
are stopped (SIGTERM, SIGKILL after the grace period). The exit code is the failed replica's.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time


def main(plan_path: str) -> int:
    with open(plan_path) as f:
        plan = json.load(f)
    gang = Gang(plan)
    signal.signal(signal.SIGTERM, gang.on_stop)
    signal.signal(signal.SIGINT, gang.on_stop)
    return gang.run()


class Gang:
    def __init__(self, plan: dict) -> None:
        self.plan = plan
        self.grace = float(plan.get("grace", 5.0))
        self.procs: dict[int, dict] = {}  # pid -> replica
        self.states: dict[str, dict] = {}
        self.stopping = False

    def say(self, text: str) -> None:
        sys.stdout.write(f"[pykatib] {text}\n")
        sys.stdout.flush()

    def on_stop(self, signum: int, frame: object) -> None:
        self.stopping = True
        self.signal_all(signal.SIGTERM)

    def signal_all(self, sig: int) -> None:
        for pid in list(self.procs):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def write_states(self) -> None:
        path = self.plan["states"]
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.states, f)
        os.replace(tmp, path)

    def start(self, replica: dict) -> None:
        name = replica["name"]
        memory = replica.get("memory")

        def limit() -> None:  # the container's resources.limits.memory, as in the shim
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))

        log = replica.get("log")
        try:
            with open(log, "ab") if log else contextlib.nullcontext() as out:
                proc = subprocess.Popen(
                    replica["argv"],
                    cwd=replica["cwd"],
                    env=replica["env"],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    # This process has one thread: preexec_fn is safe here.
                    preexec_fn=limit if memory else None,  # noqa: PLW1509
                )
        except OSError as exc:
            text = exc.strerror or str(exc)
            self.say(f"replica {name}: can't start {replica['argv'][0]!r}: {text}")
            self.states[name] = {"state": "failed", "exitCode": 127}
            return
        self.procs[proc.pid] = replica
        self.states[name] = {"state": "running", "pid": proc.pid}

    def run(self) -> int:
        for replica in self.plan["replicas"]:
            if self.stopping:
                break
            self.start(replica)
        self.write_states()
        failed = next((n for n, s in self.states.items() if s["state"] == "failed"), None)
        if failed is not None:
            return self.end(failed, 127)
        leaders = {r["name"] for r in self.plan["replicas"] if r.get("leader")}
        if self.plan.get("success") == "all" or not leaders:
            leaders = {r["name"] for r in self.plan["replicas"]}
        while self.procs:
            pid, status = os.wait()
            replica = self.procs.pop(pid, None)
            if replica is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            name = replica["name"]
            if self.stopping:
                self.states[name] = {"state": "stopped", "exitCode": code}
                self.write_states()
                continue
            self.states[name] = {"state": "succeeded" if code == 0 else "failed", "exitCode": code}
            self.write_states()
            if code != 0:
                return self.end(name, code)
            if all(self.states[n]["state"] == "succeeded" for n in leaders):
                self.finish()
                return 0
        return 143 if self.stopping else 0

    def end(self, failed: str, code: int) -> int:
        """A replica failed: stop the others; the exit code is the failed one's."""
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        others = ", ".join(r["name"] for r in self.procs.values())
        self.say(f"replica {failed} failed: it {how}" + (f"; stopping {others}" if others else ""))
        self.terminate()
        return 128 - code if code < 0 else code

    def finish(self) -> None:
        """The job succeeded: what still runs gets the grace period to end, then is stopped."""
        self.reap(time.monotonic() + self.grace, signalled=False)
        if self.procs:
            others = ", ".join(r["name"] for r in self.procs.values())
            self.say(f"the job succeeded; stopping {others}, still running after the grace period")
            self.terminate()
        self.write_states()

    def terminate(self) -> None:
        """SIGTERM what still runs, SIGKILL what is left after the grace period."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.procs:
                break
            self.signal_all(sig)
            self.reap(None if sig == signal.SIGKILL else time.monotonic() + self.grace, True)
        self.write_states()

    def reap(self, until: float | None, signalled: bool) -> None:
        """Collect replicas as they end, until all have or ``until`` (time.monotonic) passes."""
        while self.procs:
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                return
            for pid in self._ended(left):
                code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                replica = self.procs.pop(pid)
                state = "succeeded" if code == 0 else "stopped" if signalled else "failed"
                self.states[replica["name"]] = {"state": state, "exitCode": code}

    def _ended(self, timeout: float | None) -> list[int]:
        """Replicas that have ended, waiting up to ``timeout`` seconds for one (pidfds where
        Linux has them, else a short poll)."""
        if not hasattr(os, "pidfd_open"):
            time.sleep(min(timeout or 0.05, 0.05))
            return [
                pid
                for pid in list(self.procs)
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            ]
        fds = {os.pidfd_open(pid): pid for pid in self.procs}
        try:
            ready = select.select(list(fds), [], [], timeout)[0]
            return [fds[fd] for fd in ready]
        finally:
            for fd in fds:
                os.close(fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
