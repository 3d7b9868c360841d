# First version of the runner image; the container issue pins the base by digest,
# adds the CI build and the offline checks.
FROM mambaorg/micromamba:2.0.5

ENV MPLBACKEND=Agg \
    BQLAB_ENV=system \
    PYTHONDONTWRITEBYTECODE=1

# The environment first, in one layer, so a code change does not rebuild it.
COPY --chown=$MAMBA_USER:$MAMBA_USER environment.yml requirements.txt /tmp/env/
RUN micromamba install --yes --name base --file /tmp/env/environment.yml \
    && micromamba clean --all --yes

WORKDIR /home/mambauser/project
COPY --chown=$MAMBA_USER:$MAMBA_USER . .
ARG MAMBA_DOCKERFILE_ACTIVATE=1
RUN pip install --no-deps -e . \
    && python -m ipykernel install --sys-prefix --name bqlab --display-name "Python (bqlab)"

USER $MAMBA_USER
ENTRYPOINT ["/usr/local/bin/_entrypoint.sh", "tini", "--"]
CMD ["make", "report"]
