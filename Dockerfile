# ZeroTouch image: web (gunicorn), Celery worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    ZEROTOUCH_VAR_DIR=/app/var STATIC_ROOT=/app/staticfiles MODEL_DIR=/app/models
WORKDIR /app

COPY pyproject.toml ./
COPY aiops_site ./aiops_site
COPY apps ./apps
RUN pip install --upgrade pip && pip install .

COPY manage.py ./
COPY templates ./templates
COPY static ./static
# collectstatic needs settings, not secrets: a throwaway key that never leaves this step.
RUN SECRET_KEY=collectstatic-only ZEROTOUCH_VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --home-dir /app zerotouch \
    && mkdir -p /app/var /app/models && chown zerotouch /app/var /app/models

USER zerotouch
EXPOSE 8000
CMD ["gunicorn", "aiops_site.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-"]
