# The image of one service, from the repository root (the four images differ only in SERVICE):
#
#   DOCKER_BUILDKIT=1 docker build -f deploy/service.Dockerfile --build-arg SERVICE=requests -t pur/requests .
#
# SERVICE is requests, settings, digest or sis_sync; PYTHON_IMAGE any Python 3.11 image with pip.
# deploy/compose/build-images.sh builds all four; `docker compose up --build` does the same.
# Needs BuildKit (secret, cache and bind mounts); no `# syntax=` line, so no frontend image is
# pulled and the engine's built-in Dockerfile frontend is used.
ARG PYTHON_IMAGE=python:3.11-slim

# --- 1. deps: wheels of every third-party distribution, pinned by constraints.txt ----------------
# Built from the pyproject.toml files alone, so editing the code leaves this stage (the only one
# that needs the network) and the runtime layer installed from it cached.
FROM ${PYTHON_IMAGE} AS deps
ARG SERVICE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN case "${SERVICE}" in requests|settings|digest|sis_sync) ;; \
      *) echo "build with --build-arg SERVICE=requests|settings|digest|sis_sync (got '${SERVICE}')" >&2; exit 1 ;; esac
COPY constraints.txt ./
COPY libs/contracts/pyproject.toml libs/contracts/
COPY libs/kit/pyproject.toml libs/kit/
COPY services/${SERVICE}/pyproject.toml services/${SERVICE}/
# A network that intercepts TLS lends pip its CA bundle as the optional build secret `pip_cert`
# (`--secret id=pip_cert,src=FILE`): mounted for this step only, never stored in a layer. The
# pip cache survives between builds. setuptools (the project's build backend) goes into this
# throwaway stage, so the project builds offline below without a build environment per package.
RUN --mount=type=secret,id=pip_cert,required=false \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
 && mkdir /wheels \
 && python -c 'import sys, tomllib; print("\n".join(d for f in sys.argv[1:] for d in tomllib.load(open(f, "rb"))["project"]["dependencies"] if not d.startswith("pur-")))' \
      libs/contracts/pyproject.toml libs/kit/pyproject.toml "services/${SERVICE}/pyproject.toml" >/wheels/requirements.txt \
 && pip wheel --quiet --wheel-dir /wheels -c constraints.txt -r /wheels/requirements.txt \
 && pip install --quiet "setuptools>=70.1"

# --- 2. project: wheels of libs/contracts, libs/kit and the service, offline ----------------------
FROM deps AS project
COPY libs/contracts/ libs/contracts/
COPY libs/kit/ libs/kit/
COPY services/${SERVICE}/ services/${SERVICE}/
RUN pip wheel --quiet --no-deps --no-index --no-build-isolation --wheel-dir /project \
      ./libs/contracts ./libs/kit "./services/${SERVICE}"

# --- 3. runtime: the wheels installed without an index; no compiler, no source tree ----------------
FROM ${PYTHON_IMAGE}
ARG SERVICE
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PUR_SERVICE=${SERVICE} \
    SIS_SYNC_SERVICE_DIR=/app
# The wheels are bind-mounted from the stages above, so they take no space in this image; two
# layers, so that a code change reinstalls only the project's three wheels. pip compiles the
# bytecode at install time (the app's user could not write it later); `pip check` proves the
# dependencies installed first satisfy the project's wheels.
RUN --mount=type=bind,from=deps,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels -r /wheels/requirements.txt \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin app \
 && if [ "${SERVICE}" = sis_sync ]; then install -d -o app -g app /var/lib/sis-drop; fi
RUN --mount=type=bind,from=project,source=/project,target=/project \
    pip install --no-cache-dir --no-index --no-deps /project/*.whl \
 && pip check

# `serve` (and `migrate`) apply the service's migrations first: the CLI finds alembic.ini and
# migrations/ in its working directory (sis_sync through SIS_SYNC_SERVICE_DIR, set above).
WORKDIR /app
COPY services/${SERVICE}/alembic.ini ./
COPY services/${SERVICE}/migrations/ ./migrations/
COPY deploy/service-entrypoint.sh /usr/local/bin/pur-service
RUN chmod 0755 /usr/local/bin/pur-service

USER app
# It listens on 0.0.0.0:<SERVICE>_HTTP_PORT, by default 8000 requests, 8001 settings, 8002 digest,
# 8003 sis_sync (no EXPOSE: one Dockerfile serves all four).
# Ready = the database answers and the broker was reached once (see README, Operations).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["pur-service", "healthcheck"]
ENTRYPOINT ["pur-service"]
CMD ["serve"]
