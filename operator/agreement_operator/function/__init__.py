"""What ships in a metric's zip and how it runs, wherever it runs: the deterministic zip (packaging.py)
with the handler wrapper (agreement_handler.py, never imported by the operator), what an invocation
answered (invocation.py), a local run in a separate process (local_invoke.py), spec.tests
(smoke_tests.py), and the errors a function's log lines report (log_errors.py)."""
