"""Django settings for lvsweb, read from the environment.

Every knob an operator may turn is an environment variable documented in README.md. The defaults give a
zero-configuration console for `make run` (SQLite under var/, Redis on localhost, DEBUG off).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from lvsweb_agent.screen import transport_for

from dispatch.partitions import own_queue, task_routes

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LVSWEB_VAR_DIR", BASE_DIR / "var"))


def env_flag(name: str, default: bool = False) -> bool:
    """Read a yes/no environment variable ("1", "true", "yes", "on" mean yes)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    """Read a comma-separated environment variable into a list, dropping blanks."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def load_or_create_secret_key() -> str:
    """Return SECRET_KEY from the environment, or from var/secret_key (created with mode 0600 once)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


SECRET_KEY = load_or_create_secret_key()
DEBUG = env_flag("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "accounts",
    "audit",
    "teams",
    "clusters",
    "dispatch",
    "traffic",
    "alerts",
]

MIDDLEWARE = [
    # First: /healthz and /readyz answer load balancers before the host check and HTTPS redirect (readiness.py).
    "lvsweb.readiness.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "lvsweb.csp.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a refused (locked-out) sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "lvsweb.urls"
ASGI_APPLICATION = "lvsweb.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "lvsweb" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "alerts.context_processors.failing_channels",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'lvsweb.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Django's own backends, with the audit chain's commit step added (audit/chain.py).
_AUDITED_ENGINES = {
    "django.db.backends.postgresql": "audit.backends.postgresql",
    "django.db.backends.sqlite3": "audit.backends.sqlite3",
}
DATABASES["default"]["ENGINE"] = _AUDITED_ENGINES.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])
# Nothing waits unbounded (docs/operating.md, "Timeouts"): a row or chain lock is given up after
# DATABASE_LOCK_TIMEOUT seconds, a statement after DATABASE_STATEMENT_TIMEOUT, a transaction left idle after
# DATABASE_IDLE_TIMEOUT; the request then answers 503 "busy, try again" instead of hanging.
DATABASE_LOCK_TIMEOUT = float(os.environ.get("DATABASE_LOCK_TIMEOUT", "10"))
DATABASE_STATEMENT_TIMEOUT = float(os.environ.get("DATABASE_STATEMENT_TIMEOUT", "120"))
DATABASE_IDLE_TIMEOUT = float(os.environ.get("DATABASE_IDLE_TIMEOUT", "300"))
if DATABASES["default"]["ENGINE"] == "audit.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c lock_timeout={int(DATABASE_LOCK_TIMEOUT * 1000)}"
        f" -c statement_timeout={int(DATABASE_STATEMENT_TIMEOUT * 1000)}"
        f" -c idle_in_transaction_session_timeout={int(DATABASE_IDLE_TIMEOUT * 1000)}"
    )
elif DATABASES["default"]["ENGINE"] == "audit.backends.sqlite3":
    # The zero-config database under load: a transaction takes SQLite's one write lock when it begins
    # (IMMEDIATE), so two writers queue for it instead of failing midway on an upgrade from a read lock;
    # each waits up to the lock timeout (busy timeout). WAL lets readers go on while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": DATABASE_LOCK_TIMEOUT,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
# Front-end libraries come from npm at install time (package.json, `make` runs `npm ci`): served from
# node_modules under static/vendor/<name>/, never copied into the repository.
NODE_MODULES = Path(os.environ.get("LVSWEB_NODE_MODULES", BASE_DIR / "node_modules"))
STATICFILES_DIRS = [
    BASE_DIR / "lvsweb" / "static",
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/uplot", NODE_MODULES / "uplot" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed (gzip/brotli) but not renamed by content hash: no manifest, so pages render the same
    # whether or not collectstatic has run (tests, `manage.py` one-offs) and never fail on a missing entry.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# django-axes guards the sign-in forms: it must come first, and refuses a locked-out user before the
# password is even checked. Failures count per user name and client address, so that a stranger cannot
# lock a colleague out from elsewhere; after the cool-off the lock lifts by itself.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.SignInGuard",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LVSWEB_LOCKOUT_FAILURES", 5))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LVSWEB_LOCKOUT_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# The client's address, for the lockout, the enrollment throttle and the audit history alike, is decided by
# audit.context.client_address: REMOTE_ADDR, unless LVSWEB_PROXY_COUNT says how many reverse proxies stand in
# front (1 for one nginx); then it is read from X-Forwarded-For. Unset, X-Forwarded-For is ignored: anyone can
# send it. The names used before (AXES_IPWARE_PROXY_COUNT, LVSWEB_TRUST_X_FORWARDED_FOR=1) still count.
LVSWEB_PROXY_COUNT = int(
    os.environ.get("LVSWEB_PROXY_COUNT")
    or os.environ.get("AXES_IPWARE_PROXY_COUNT")
    or (1 if env_flag("LVSWEB_TRUST_X_FORWARDED_FOR") else 0)
)
AXES_CLIENT_IP_CALLABLE = "audit.context.client_address"

# Password reset and invitation e-mails; printed on the console unless an SMTP server is configured.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_flag("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "lvsweb <lvsweb@localhost>")
# Alerts (docs/alerts.md): links in messages start with the console's public address; webhook and retry limits.
LVSWEB_PUBLIC_URL = os.environ.get("LVSWEB_PUBLIC_URL", "http://127.0.0.1:8000")
ALERTS_SCAN_INTERVAL = float(os.environ.get("LVSWEB_ALERTS_SCAN_INTERVAL", "2"))
ALERTS_WEBHOOK_TIMEOUT = float(os.environ.get("LVSWEB_ALERTS_WEBHOOK_TIMEOUT", "5"))
ALERTS_RETRY_SECONDS = float(os.environ.get("LVSWEB_ALERTS_RETRY_SECONDS", "10"))
ALERTS_MAX_ATTEMPTS = int(os.environ.get("LVSWEB_ALERTS_MAX_ATTEMPTS", "6"))
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", 3 * 3600))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Sessions end after a working day of inactivity or when the browser closes.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", 8 * 3600))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Behind TLS (a reverse proxy or daphne with a certificate) set LVSWEB_TLS=1: secure cookies, HSTS and
# a redirect to https. Off by default so that `make run` works on http://127.0.0.1:8000.
if env_flag("LVSWEB_TLS"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_flag("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_flag("SECURE_HSTS_PRELOAD", True)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# Agents' Redis users reach only their own exact keys (dispatch/broker_acl.py), never this prefix's.
# Each page's consumer waits for its messages in BZPOPMIN with channels_redis's 5 s timeout; redis-py 8 puts a
# 5 s socket timeout on every read by default, so a quiet page's read raced its own deadline and the page lost
# its websocket ("Timeout reading from …"). The read's deadline stays well beyond the blocking pop's.
CHANNEL_LAYER_SOCKET_TIMEOUT = 30
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT}],
            "prefix": os.environ.get("CHANNELS_PREFIX", "lvsweb:asgi"),
        },
    }
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
# More than one partition: the worker on `control` forwards each host's reports to `control.<k>`, one
# consumer per partition keeps each host's order, and the console's own tasks go to `control.jobs`
# (dispatch/partitions.py, docs/scaling.md). Every console process and worker must agree on the number.
_partitions = os.environ.get("LVSWEB_CONTROL_PARTITIONS", "1").strip()
if not _partitions.isdigit() or not 1 <= int(_partitions) <= 64:
    raise ImproperlyConfigured(f"LVSWEB_CONTROL_PARTITIONS must be a whole number from 1 to 64, not {_partitions!r}")
CONTROL_PARTITIONS = int(_partitions)
CELERY_TASK_DEFAULT_QUEUE = own_queue(CONTROL_PARTITIONS)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ROUTES = task_routes(CONTROL_PARTITIONS)
CELERY_BEAT_SCHEDULE = {
    "expire-unanswered-commands": {"task": "lvsweb.control.expire_deployments", "schedule": 5.0},
    "mark-offline-hosts": {"task": "lvsweb.control.mark_offline_hosts", "schedule": 5.0},
    "traffic-history": {"task": "lvsweb.control.traffic_history", "schedule": 60.0},
    # /readyz wants a control worker's heartbeat younger than CONTROL_HEARTBEAT_MAX_AGE (lvsweb/readiness.py).
    "control-heartbeat": {"task": "lvsweb.control.heartbeat", "schedule": 15.0},
    # Re-creates agents' Redis users that a Redis restart forgot (dispatch/broker_acl.py).
    "sync-broker-users": {"task": "lvsweb.control.sync_broker_users", "schedule": 60.0},
    # audit/tasks.py: stream entries to the configured sinks, anchor unanchored entries, verify the chain.
    "audit-deliver": {"task": "lvsweb.audit.deliver", "schedule": 10.0},
    # alerts/grouping.py: read new audit entries into alerts, send those whose grouping window closed.
    "alerts-scan": {"task": "lvsweb.alerts.scan", "schedule": ALERTS_SCAN_INTERVAL},
    "audit-checkpoint": {
        "task": "lvsweb.audit.checkpoint",
        "schedule": float(os.environ.get("LVSWEB_AUDIT_CHECKPOINT_INTERVAL", "300")),
    },
    "audit-verify": {
        "task": "lvsweb.audit.verify",
        "schedule": float(os.environ.get("LVSWEB_AUDIT_VERIFY_INTERVAL", "900")),
    },
}
CONTROL_HEARTBEAT_MAX_AGE = 60.0  # seconds: four missed beats of the schedule above
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The broker is not trusted (docs/dispatch.md, "Junk on the broker"): the transport drops, logs and counts the
# messages it cannot read (/metrics) instead of dying on them, and remote control (pidbox) is off, so no broker
# client can cancel the control queue's consumer or shut a worker down.
CELERY_BROKER_TRANSPORT = transport_for(CELERY_BROKER_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {"on_drop": "dispatch.counters:count_dropped_message"}
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_WORKER_CONSUMER = "lvsweb_agent.broker_transport:Consumer"  # a message Celery fails on is dropped, not fatal

# Dispatch (docs/dispatch.md). Agents reach the broker at AGENT_BROKER_URL, which may differ from the
# console's own REDIS_URL (another address, a TLS port, a Redis user with fewer rights).
AGENT_BROKER_URL = os.environ.get("AGENT_BROKER_URL", CELERY_BROKER_URL)
# Every enrolled agent gets a Redis ACL user of its own that reaches its queue and `control` only
# (dispatch/broker_acl.py, docs/operating.md "Securing the broker"); its credentials replace any in
# AGENT_BROKER_URL. The console manages those users over BROKER_ADMIN_URL (a Redis user allowed ACL and
# CLIENT KILL). LVSWEB_BROKER_ACL=off hands every agent AGENT_BROKER_URL as it is: no isolation between hosts.
BROKER_ACL = env_flag("LVSWEB_BROKER_ACL", True)
BROKER_ADMIN_URL = os.environ.get("LVSWEB_BROKER_ADMIN_URL", CELERY_BROKER_URL)
BROKER_USER_PREFIX = os.environ.get("LVSWEB_BROKER_USER_PREFIX", "lvsweb-agent.")
AGENT_HEARTBEAT_INTERVAL = int(os.environ.get("AGENT_HEARTBEAT_INTERVAL", "10"))
AGENT_COMMAND_TTL = int(os.environ.get("AGENT_COMMAND_TTL", "120"))
AGENT_ENROLLMENT_TTL = int(os.environ.get("AGENT_ENROLLMENT_TTL", "3600"))
# A signed report whose sent_at is further than this many seconds from the console's clock (either way) is
# refused, like a repeated or out-of-order one (docs/dispatch.md, "Reports: replay").
AGENT_REPORT_WINDOW = int(os.environ.get("AGENT_REPORT_WINDOW", "300"))
# The agent's wheel and its locked dependencies (`manage.py build_agent_bundle`), served at /agent/download/
# for hosts without a package index (docs/operating.md, "Install the agent").
AGENT_BUNDLE_DIR = Path(os.environ.get("LVSWEB_AGENT_BUNDLE_DIR", VAR_DIR / "agent-bundle"))
# Live traffic (docs/traffic.md): a director's figures older than this many seconds are "stale".
TRAFFIC_STALE_AFTER = int(os.environ.get("TRAFFIC_STALE_AFTER", "10"))
# A director's series rows are stored at most this often (seconds); in between the control worker's memory is
# the live state, and what reads the rows sees figures at most this old (docs/traffic.md, "What is stored when").
TRAFFIC_STORE_EVERY = float(os.environ.get("TRAFFIC_STORE_EVERY", "5"))
CONTROL_SIGNING_KEY_FILE = os.environ.get("LVSWEB_CONTROL_SIGNING_KEY_FILE", str(VAR_DIR / "control-signing-key.pem"))

# Audit history that the database administrator alone cannot rewrite (docs/audit.md). The keys live outside
# the database: the chain's HMAC keys (one per line, the current one first) and the checkpoint signing key.
AUDIT_HMAC_KEYS = os.environ.get("LVSWEB_AUDIT_HMAC_KEYS", "")
AUDIT_HMAC_KEYS_FILE = os.environ.get("LVSWEB_AUDIT_HMAC_KEYS_FILE", str(VAR_DIR / "audit-hmac-keys"))
AUDIT_SIGNING_KEY_FILE = os.environ.get("LVSWEB_AUDIT_SIGNING_KEY_FILE", str(VAR_DIR / "audit-signing-key.pem"))
AUDIT_TRUSTED_KEYS = env_list("LVSWEB_AUDIT_TRUSTED_KEYS")  # older signing public keys (base64), after a rotation
AUDIT_CHECKPOINT_FILE = os.environ.get("LVSWEB_AUDIT_CHECKPOINT_FILE", str(VAR_DIR / "audit-checkpoints.jsonl"))
AUDIT_CHECKPOINT_EVERY = int(os.environ.get("LVSWEB_AUDIT_CHECKPOINT_EVERY", "100"))  # entries
AUDIT_CHECKPOINT_INTERVAL = float(os.environ.get("LVSWEB_AUDIT_CHECKPOINT_INTERVAL", "300"))  # seconds
AUDIT_VERIFY_INTERVAL = float(os.environ.get("LVSWEB_AUDIT_VERIFY_INTERVAL", "900"))  # seconds
# Streaming each entry where auditors look: syslog (tcp://host:port, tls://host:port, unix:///dev/log) and/or
# a JSON-lines file; the dashboard warns when one is more than so many entries or seconds behind.
AUDIT_SYSLOG = os.environ.get("LVSWEB_AUDIT_SYSLOG", "")
AUDIT_SYSLOG_CA_FILE = os.environ.get("LVSWEB_AUDIT_SYSLOG_CA_FILE", "")  # for tls://; the system's CAs otherwise
AUDIT_STREAM_FILE = os.environ.get("LVSWEB_AUDIT_STREAM_FILE", "")
AUDIT_STREAM_MAX_LAG_ENTRIES = int(os.environ.get("LVSWEB_AUDIT_STREAM_MAX_LAG_ENTRIES", "1000"))
AUDIT_STREAM_MAX_LAG_SECONDS = float(os.environ.get("LVSWEB_AUDIT_STREAM_MAX_LAG_SECONDS", "300"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Signed-in users, then the team policy on every object; a read-only token never writes.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.TokenScope",
        "teams.api.permissions.TeamPolicy",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "lvsweb.api.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "lvsweb.api.Pagination",
    "DEFAULT_SCHEMA_CLASS": "lvsweb.api_schema.AutoSchema",  # drf-spectacular's, with the error answers
    "EXCEPTION_HANDLER": "lvsweb.api.exception_handler",
    # JSON bodies: at most 32 levels deep, no NUL characters (each a 400, not a 500 from Python or PostgreSQL).
    "DEFAULT_PARSER_CLASSES": [
        "lvsweb.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "lvsweb.api.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's own throttles trust X-Forwarded-For unless told how many proxies there are.
    "NUM_PROXIES": LVSWEB_PROXY_COUNT,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "lvsweb API",
    "DESCRIPTION": "Clusters, virtual services (VIPs), real servers and hosts of Linux Virtual Server "
    "load-balancer clusters. Authenticate with a session or `Authorization: Token <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc assets come from the drf-spectacular-sidecar package, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Real servers and health checks' sorry servers share the forwarding methods: one enum in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ForwardMethodEnum": "clusters.choices.ForwardMethod",
        # names of their own for choice sets whose field names ("kind", "state", "status") other models use too
        "DeploymentKindEnum": "dispatch.choices.DeploymentKind",
        "DeploymentStatusEnum": "dispatch.choices.DeploymentStatus",
        "RealServerStateEnum": "clusters.choices.RealServerState",
        "AlertSeverityEnum": "alerts.choices.Severity",
        "AlertEventTypeEnum": "alerts.events.EVENT_TYPE_NAMES",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every sign-in at INFO; failures and lockouts are WARNING.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
