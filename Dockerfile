# syntax=docker/dockerfile:1
# Python 3.12 matches the default Lambda runtime, so the operator's syntax check of
# metric code uses the grammar the functions will run with.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV VENV=/opt/agreement-operator PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# What ships is the operator and its dependencies: pip and setuptools only build it, and of
# botocore's service models the operator calls Lambda, CloudWatch Logs and CloudWatch, and the credential
# chain STS (IRSA's AssumeRoleWithWebIdentity) and SSO; the other ~400 services go (~50 MB).
ARG BOTOCORE_SERVICES="lambda logs cloudwatch sts sso sso-oidc"
RUN python -m pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && python -m venv "$VENV" \
 && "$VENV/bin/pip" install /tmp/wheels/*.whl \
 && "$VENV/bin/python" -m pip uninstall --yes --quiet pip setuptools \
 && data="$(echo "$VENV"/lib/python3*/site-packages/botocore/data)" \
 && for service in "$data"/*/; do \
      case " $BOTOCORE_SERVICES " in *" $(basename "$service") "*) ;; *) rm -rf "$service" ;; esac; \
    done \
 && "$VENV/bin/agreement-operator" --version

FROM ${PYTHON_IMAGE}
# Not "operator": Debian's base-passwd already has a group of that name (gid 37).
RUN groupadd --system --gid 10001 agreement-operator \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent agreement-operator
COPY --from=build /opt/agreement-operator /opt/agreement-operator
ENV PATH=/opt/agreement-operator/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
ENTRYPOINT ["agreement-operator"]
CMD ["run"]
