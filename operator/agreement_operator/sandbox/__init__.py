"""A local sandbox: a real kube-apiserver and etcd, moto's AWS server, and the operator.

Used by the end-to-end tests and by the `dev` and `demo` commands. Every process
started here is stopped when its context exits, also on errors and Ctrl-C.
"""
