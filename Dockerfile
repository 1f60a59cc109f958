# ZeroTouch image: web (gunicorn), the Celery workers and beat all run from it (see
# docker-compose.yml and deploy/kubernetes/). Dependencies come first, pinned in
# requirements.lock (deploy/lock.py refreshes it), in a layer of their own: a code change
# rebuilds only the layers after it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONPATH=/app \
    ZEROTOUCH_VAR_DIR=/app/var STATIC_ROOT=/app/staticfiles MODEL_DIR=/app/models
WORKDIR /app

# The user the manifests run as (runAsUser/runAsGroup 10001): numeric, so Kubernetes can check
# runAsNonRoot.
RUN groupadd --system --gid 10001 zerotouch \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home zerotouch

COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock && pip check

# The code runs from /app (PYTHONPATH), not from an installed wheel.
COPY manage.py pyproject.toml ./
COPY aiops_site ./aiops_site
COPY apps ./apps
COPY templates ./templates
COPY static ./static
# collectstatic needs settings, not secrets: a throwaway key that never leaves this step.
RUN SECRET_KEY=collectstatic-only ZEROTOUCH_VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput \
    && rm -rf /tmp/build-var \
    && mkdir -p /app/var /app/models /app/audit \
    && chown 10001:10001 /app/var /app/models /app/audit

USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "aiops_site.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-"]
