# The application image: web, worker, beat and migrate all run it (docker-compose.yml).
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    VAR_DIR=/app/var

WORKDIR /app

# The dependencies alone first, so that this layer is rebuilt only when the lock changes.
# requirements.lock pins every runtime dependency, transitive ones included, with their
# hashes (`make lock`, docs/operations.md): pip refuses a download whose hash differs, and
# a dependency the lock does not pin. The `dev` and `local` extras (test tools, the
# embedded PostgreSQL and Redis of `make run`, honcho, the mail catcher) are not in it: here
# the compose file's db and redis services are used.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

COPY manage.py ./
COPY followup/ followup/
COPY patients/ patients/
COPY imaging/ imaging/

# Static files are collected into the image (whitenoise serves them). The key below only
# lets the settings load for this step; compose requires the real one.
RUN SECRET_KEY=collectstatic-only-not-used-at-run-time-0000000000 \
        python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --system --uid 10001 --home-dir /app app \
    && chown app /app/var

USER app
EXPOSE 8000
CMD ["gunicorn", "followup.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--access-logformat", "%(h)s %(t)s %(m)s %(U)s %(H)s %(s)s %(b)s %(M)sms"]
