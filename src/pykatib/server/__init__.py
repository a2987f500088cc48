"""``pykatib server``: the control plane and a Kubernetes-style API (group kubeflow.org, version
v1beta1) that kubectl talks to unchanged. Needs the ``server`` extra (FastAPI, uvicorn)."""

from pykatib.server.app import create_app, is_loopback, serve

__all__ = ["create_app", "is_loopback", "serve"]
