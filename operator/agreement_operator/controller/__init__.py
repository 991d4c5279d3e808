"""The only kopf-aware code: the handlers (handlers.py) that pick a metric's target and write what it
answered, set-up (startup.py), kopf's bookkeeping (kopf_storage.py), conditions and status
(conditions.py), the schedules of resyncs and error looks (schedule.py, error_watch.py), the
operator's own apiserver calls (kube.py), its Prometheus metrics (prometheus.py) and its logging
(log_setup.py)."""
