# The console image: daphne (web), Celery worker and beat all run from it (see docker-compose.yml).
# The console is installed from its wheel and the agent's (a library of the console), as tests/lvsweb/test_wheel.py
# installs and runs them: no source tree in the image. Front-end libraries from npm, as locked in package-lock.json (served by whitenoise after collectstatic).
FROM node:20-bookworm-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . ./agents

FROM python:3.11-slim-bookworm
# STATIC_ROOT lies outside the var volume (docker-compose.yml), so that a new image's files are the ones served.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=lvsweb.settings \
    LVSWEB_VAR_DIR=/var/lib/lvsweb STATIC_ROOT=/opt/lvsweb/static LVSWEB_NODE_MODULES=/opt/lvsweb/node_modules
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock
COPY --from=assets /assets/node_modules /opt/lvsweb/node_modules
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps /tmp/wheels/lvsweb-*.whl /tmp/wheels/lvsweb_agent-*.whl \
    && rm -rf /tmp/wheels /tmp/requirements.lock \
    && SECRET_KEY=build-only django-admin collectstatic --noinput -v0 \
    && useradd --system --home /var/lib/lvsweb lvsweb && mkdir -p /var/lib/lvsweb && chown lvsweb /var/lib/lvsweb
USER lvsweb
WORKDIR /var/lib/lvsweb
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "lvsweb.asgi:application"]
