# The runner image: `make report` on the embedded data by default; JupyterLab with `make docker-lab`.
# Build with `make docker-build`. Credentials never enter the image: `make docker-report`
# mounts Application Default Credentials read-only at run time.

# Two bases, one Dockerfile. The real image: micromamba 2.3.3 on Debian 12 slim, pinned by
# digest (a tag can move; a digest cannot) and named in full (podman has no default registry),
# with environment.yml solved from conda-forge.
# The twin (make docker-build-twin), for machines with no registry or conda channel: a Debian 12
# base made by docker/twin-base.sh with the Python environment.yml pins, laid out like the
# micromamba base, and requirements.txt installed by pip into /opt/conda. Only the
# environment's RUN differs; every line after it is the same for both.
ARG BASE_IMAGE=docker.io/mambaorg/micromamba:2.3.3@sha256:800e7ade3ffe29c9a9ac2026163131495f8197c3852e572c5835beb4e8a33cd6
FROM ${BASE_IMAGE}
ARG ENV_INSTALL=conda

ARG VERSION=0.1.0
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="bqlab" \
      org.opencontainers.image.description="Parameterised EDA, training and evaluation notebooks on BigQuery Standard SQL, run by papermill, rendered to HTML reports." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"

# BQLAB_IMAGE names the image in each report's provenance (make docker-report sets the tag).
# No MPLBACKEND: the notebooks' kernels draw inline, as on your machine (MPLBACKEND=Agg made
# every report in the image figure-less); matplotlib picks Agg by itself with no display.
ENV BQLAB_ENV=system \
    BQLAB_IMAGE="bqlab ${VERSION}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The environment first, in one layer with its caches cleaned, before any project file:
# a code change does not rebuild it. The files go to /tmp because micromamba hands the
# `pip:` part to pip as a temporary file there, and `-r requirements.txt` resolves beside it.
# `--name base` overrides the file's name (bqlab): the image's entrypoint activates base.
# The twin's build may pass PIP_CERT (a CA bundle mounted for the build only) to reach PyPI
# through a proxy; it names a file, holds no secret, and no layer keeps the file.
# requirements.txt is the whole resolved set, so pip installs it without resolving again
# (PIP_NO_DEPS, which micromamba's pip inherits too): pip 23 otherwise turns a dependency's
# extra (google-cloud-bigquery asks for google-auth[pyopenssl]) into an unpinned requirement,
# picks the newest release and refuses it in hash-checking mode, so a new upload to PyPI broke
# the build of an unchanged lock.
COPY --chown=$MAMBA_USER:$MAMBA_USER environment.yml requirements.txt /tmp/
WORKDIR /tmp
ARG PIP_CERT
RUN if [ "$ENV_INSTALL" = conda ]; then \
        PIP_NO_DEPS=1 micromamba install --yes --name base --file /tmp/environment.yml && micromamba clean --all --yes; \
    elif [ "$ENV_INSTALL" = pip ]; then \
        python3 -m venv /opt/conda && /opt/conda/bin/pip install --no-deps --require-hashes -r /tmp/requirements.txt; \
    else echo "ENV_INSTALL is conda (the real image) or pip (the twin), not '$ENV_INSTALL'" >&2; exit 2; fi \
    && rm -f /tmp/environment.yml /tmp/requirements.txt

# The commit the project files come from ("<commit>" or "<commit>-dirty", from make
# docker-build): a run's provenance names it, as git does on your machine.
ARG COMMIT=
ENV BQLAB_COMMIT="${COMMIT}"

# The project last. Any user id may run the image (make docker-report runs it as the host
# user), so the project folder is writable by all and HOME points at a writable folder.
WORKDIR /home/mambauser/project
COPY --chown=$MAMBA_USER:$MAMBA_USER . .
ARG MAMBA_DOCKERFILE_ACTIVATE=1
RUN pip install --no-deps -e . \
    && python -m ipykernel install --sys-prefix --name bqlab --display-name "Python (bqlab)" \
    && mkdir -p "$(python -c 'import sys; print(sys.prefix)')/share/jupyter/lab/settings" \
    && cp docker/lab-overrides.json "$(python -c 'import sys; print(sys.prefix)')/share/jupyter/lab/settings/overrides.json" \
    && mkdir -p reports .cache \
    && chmod -R a+rwX /home/mambauser/project
ENV HOME=/tmp

USER $MAMBA_USER
# micromamba's entrypoint activates the environment; tini passes signals on and reaps children.
ENTRYPOINT ["/usr/local/bin/_entrypoint.sh", "tini", "--"]
CMD ["make", "report"]
