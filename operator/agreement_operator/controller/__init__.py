"""The only kopf-aware code: every handler registered with kopf (registry.py); the handlers (handlers.py)
that pick a metric's target and write what it answered; set-up (startup.py); the health endpoints
(health.py); the CRD kept current and checked before any metric is written (crd_upkeep.py), and the
deletions finished while it is deleted (crd_deletion.py); kopf's bookkeeping (kopf_storage.py);
conditions and status (conditions.py); one Event per episode of a failure (episodes.py); the
schedules of resyncs, error looks and looks again at Stalls (schedule.py, error_watch.py) and the loop
that runs them (periodic.py); kopf peering (peering.py); the operator's own apiserver calls (kube.py);
its Prometheus metrics (prometheus.py) and its logging (log_setup.py)."""
