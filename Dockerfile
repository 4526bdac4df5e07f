# The console image: daphne (web), Celery worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LVSWEB_VAR_DIR=/var/lib/lvsweb
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps . \
    && SECRET_KEY=build-only python manage.py collectstatic --noinput -v0 \
    && useradd --system --home /var/lib/lvsweb lvsweb && mkdir -p /var/lib/lvsweb && chown lvsweb /var/lib/lvsweb
USER lvsweb
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "lvsweb.asgi:application"]
