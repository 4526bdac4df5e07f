"""`manage.py check_redis`: one line saying whether the Redis that Celery and Channels need answers."""

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Check that the Redis server at REDIS_URL answers; exit 1 with how to start one when it does not."

    def handle(self, *args, **options):
        url = settings.REDIS_URL
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        except ValueError as exc:
            raise CommandError(
                f"REDIS_URL {url} is not a Redis URL ({exc}); write it as redis://HOST:PORT/DB, "
                "e.g. redis://127.0.0.1:6379/0."
            ) from None
        try:
            client.ping()
        except (redis.exceptions.RedisError, OSError) as exc:
            raise CommandError(
                f"Redis is not reachable at {url} ({exc}). Start one with `sudo apt-get install redis-server` "
                "(or `docker run -d -p 127.0.0.1:6379:6379 redis:7`), or point REDIS_URL at yours."
            ) from None
        if options["verbosity"] > 1:
            self.stdout.write(f"Redis answers at {url}.")
