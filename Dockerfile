# The console image: daphne (web), Celery worker and beat all run from it (see docker-compose.yml).
# Front-end libraries from npm, as locked in package-lock.json (served by whitenoise after collectstatic).
FROM node:20-bookworm-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LVSWEB_VAR_DIR=/var/lib/lvsweb
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . .
COPY --from=assets /assets/node_modules ./node_modules
RUN pip install --no-cache-dir --no-deps . \
    && SECRET_KEY=build-only python manage.py collectstatic --noinput -v0 \
    && useradd --system --home /var/lib/lvsweb lvsweb && mkdir -p /var/lib/lvsweb && chown lvsweb /var/lib/lvsweb
USER lvsweb
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "lvsweb.asgi:application"]
