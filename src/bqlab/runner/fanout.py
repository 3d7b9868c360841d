"""``bqlab sweep NAME --emit k8s|cloud-run``: a sweep's points as the tasks of one cloud job.

The job runs the project's image once per point: a Kubernetes Indexed Job (``completionMode:
Indexed``, each pod's index in ``$JOB_COMPLETION_INDEX``) or a Cloud Run job (``taskCount``, each
task's index in ``$CLOUD_RUN_TASK_INDEX``). Each task runs ``bqlab sweep NAME --point task`` against
the run store in a bucket (``--reports-dir gs://...``, ``bqlab.runner.remote``), so every point's run
lands in one place; ``bqlab sweep NAME --collect`` then builds the leaderboard from the store.
The manifests name the image, the service account the tasks run as (credentials come from it:
no key, no secret), the resources and a deadline (``fanout:`` in ``params/runner.yaml``).
"""

import re
from typing import Any

import yaml

from bqlab.errors import ParamsError
from bqlab.runner.remote import local_copy
from bqlab.runner.sweeps import Sweep

KINDS = ("k8s", "cloud-run")
RUNNER_FILE = "params/runner.yaml"


def job_name(sweep: Sweep) -> str:
    """A name both Kubernetes and Cloud Run take: lowercase letters, digits and '-'.

    At most 56 characters, so an Indexed Job's pod host name (``<job>-<index>``) stays within 63.
    """
    name = re.sub(r"[^a-z0-9]+", "-", f"bqlab-sweep-{sweep.name}".lower()).strip("-")
    return name[:56].rstrip("-")


def task_args(sweep: Sweep, store: str) -> list[str]:
    """What each task runs in the image's project folder: its point of the sweep, into the run store.

    ``--yes``: the sweep's size was accepted when the job was written.
    """
    args = ["python", "-m", "bqlab", "sweep", sweep.name, "--point", "task", "--yes", "--quiet", "--reports-dir", store]
    return args + (["--profile", sweep.profile] if sweep.profile else [])


def manifest(kind: str, sweep: Sweep, store: str, fanout: Any) -> str:
    """The job of ``kind`` (k8s or cloud-run) for ``sweep`` into ``store``, as YAML.

    Raises:
        ParamsError: a setting the job needs is missing (named with where to set it).
    """
    if not store.startswith("gs://"):
        raise ParamsError(
            f"--emit {kind}: the tasks run on other machines, so their runs go to a run store in a bucket: "
            "add --reports-dir gs://<bucket>/<folder>"
        )
    local_copy(store)  # a URL every task could use
    if not fanout.image:
        raise ParamsError(
            f"--emit {kind}: set fanout.image in {RUNNER_FILE} to the project's image in your registry "
            "(for example europe-docker.pkg.dev/<project>/bqlab/bqlab:0.1.0; make docker-build, then push it)"
        )
    points = len(sweep.points)
    parallelism = min(fanout.parallelism or points, points)
    labels = {"app.kubernetes.io/name": "bqlab", "bqlab/sweep": job_name(sweep).removeprefix("bqlab-sweep-")[:63]}
    container = {"image": fanout.image, "args": task_args(sweep, store)}
    if kind == "k8s":
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": job_name(sweep), "labels": labels},
            "spec": {
                "completionMode": "Indexed",
                "completions": points,
                "parallelism": parallelism,
                # Retries per point, and a point that fails does not stop the others (Kubernetes 1.29+).
                "backoffLimitPerIndex": fanout.retries,
                "maxFailedIndexes": points,
                # A notebook that failed (exit 1: its run is in the store, with where it stopped) is not
                # retried; a pod evicted or preempted is, without counting against the retries.
                "podFailurePolicy": {
                    "rules": [
                        {
                            "action": "FailIndex",
                            "onExitCodes": {"containerName": "point", "operator": "In", "values": [1]},
                        },
                        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                    ]
                },
                "activeDeadlineSeconds": fanout.deadline_seconds,
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "serviceAccountName": fanout.kubernetes_service_account,
                        "restartPolicy": "Never",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 57439,
                            "runAsGroup": 57439,
                            "fsGroup": 57439,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "point",
                                **container,
                                "resources": {
                                    "requests": {"cpu": fanout.cpu, "memory": fanout.memory},
                                    "limits": {"memory": fanout.memory},
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                            }
                        ],
                    },
                },
            },
        }
    elif kind == "cloud-run":
        if not fanout.cloud_run_service_account:
            raise ParamsError(
                f"--emit cloud-run: set fanout.cloud_run_service_account in {RUNNER_FILE} to the email of the "
                "service account the tasks run as (it needs roles/storage.objectAdmin on the bucket and, on "
                "BigQuery, roles/bigquery.jobUser and roles/bigquery.dataViewer)"
            )
        job = {
            "apiVersion": "run.googleapis.com/v1",
            "kind": "Job",
            "metadata": {"name": job_name(sweep), "labels": {"bqlab-sweep": labels["bqlab/sweep"]}},
            "spec": {
                "template": {
                    "spec": {
                        "taskCount": points,
                        "parallelism": parallelism,
                        "template": {
                            "spec": {
                                "serviceAccountName": fanout.cloud_run_service_account,
                                "timeoutSeconds": fanout.deadline_seconds,
                                "maxRetries": fanout.retries,
                                "containers": [
                                    {**container, "resources": {"limits": {"cpu": fanout.cpu, "memory": fanout.memory}}}
                                ],
                            }
                        },
                    }
                }
            },
        }
    else:
        raise ParamsError(f"--emit {kind!r}: use one of {', '.join(KINDS)}")
    return yaml.safe_dump(job, sort_keys=False)


def how_to_run(kind: str, sweep: Sweep, store: str) -> list[str]:
    """The commands a user types next (printed beside the manifest)."""
    collect = f"bqlab sweep {sweep.name} --collect --reports-dir {store}"
    if kind == "k8s":
        apply = (
            f"kubectl delete job {job_name(sweep)} --ignore-not-found && "
            f"bqlab sweep {sweep.name} --emit k8s --yes --reports-dir {store} | kubectl apply -f -"
        )
        done = f"{len(sweep.points)}/{len(sweep.points)}"
        wait = f"kubectl get job {job_name(sweep)} --watch   (until COMPLETIONS reads {done}, or a pod failed)"
    else:
        apply = "gcloud run jobs replace job.yaml --region <region>   (the YAML above saved as job.yaml)"
        wait = f"gcloud run jobs execute {job_name(sweep)} --region <region> --wait"
    first = f"bqlab sweep {sweep.name} --point 1 --reports-dir {store}"
    return [
        f"{len(sweep.points)} task(s), one per point; next:",
        f"  {first}   (once, before the job: the stages every point shares, the data analysis, are made once)",
        f"  {apply}",
        f"  {wait}",
        f"  {collect}",
    ]
