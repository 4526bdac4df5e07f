"""Traffic pages: a cluster's and a virtual service's live figures, the chart's history, and /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views import View
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import ApiTokenAuthentication
from clusters.models import RealServer
from clusters.views.base import ClusterMixin
from traffic import live, metrics
from traffic.forms import HistoryQuery


class TrafficPageMixin(ClusterMixin):
    """Context of both traffic pages: the services with their real servers and their live figures."""

    template_name = "traffic/cluster_traffic.html"

    def services(self):
        return self.cluster.virtual_services.prefetch_related(
            Prefetch("real_servers", queryset=RealServer.objects.order_by("address", "port"))
        ).order_by("address", "port", "fwmark", "protocol")

    #: Services per page, as on the cluster page: a page of 25 services × their real servers stays light to
    #: render and to update every second; events for rows of other pages are ignored by the page.
    paginate_by = 25

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = Paginator(self.services(), self.paginate_by).get_page(self.request.GET.get("page"))
        services = list(page.object_list)
        context["page_obj"] = page
        traffic = live.cluster_traffic(self.cluster, service_ids=[s.pk for s in services])
        context.update(
            services=services,
            traffic=traffic,
            rows=[
                (
                    service,
                    traffic.services.get(service.pk),
                    [
                        (rs, traffic.real_servers.get(rs.pk), rs.pk in traffic.quiet)
                        for rs in service.real_servers.all()
                    ],
                )
                for service in services
            ],
            ranges=list(live.RANGES),
            stale_after=settings.TRAFFIC_STALE_AFTER,
        )
        return context


class ClusterTrafficView(TrafficPageMixin, TemplateView):
    """Every virtual service and real server of a cluster with live connections and rates."""


class VirtualServiceTrafficView(TrafficPageMixin, TemplateView):
    """One virtual service with its real servers, live, and its chart."""

    def services(self):
        queryset = super().services()
        get_object_or_404(queryset, pk=self.kwargs["pk"])
        return queryset.filter(pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["service"] = context["services"][0]
        return context


class TrafficHistoryView(ClusterMixin, View):
    """GET [?real_server=ID][&range=5m|1h|24h|7d|90d] → the chart columns of a service (or one of its real
    servers) as JSON; bad input → 400 naming the field."""

    http_method_names = ["get", "head", "options"]

    def get(self, request, *args, **kwargs):
        service = get_object_or_404(self.cluster.virtual_services, pk=kwargs["pk"])
        query = HistoryQuery(request.GET, service=service)
        if not query.is_valid():
            errors = {name: [str(e) for e in problems] for name, problems in query.errors.items()}
            return JsonResponse({"errors": errors}, status=400)
        real_server = query.cleaned_data["real_server"]
        data = live.history(
            self.cluster,
            service_id=service.pk,
            real_server_id=real_server.pk if real_server else None,
            range_key=query.cleaned_data["range"],
        )
        return JsonResponse(data)


def _unauthorized(message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=401, content_type="text/plain; charset=utf-8")
    response["WWW-Authenticate"] = 'Bearer realm="lvsweb metrics"'
    return response


@require_safe
def metrics_view(request):
    """Prometheus scrape endpoint: an API token (`Authorization: Bearer <token>` or `Token <token>`), or a
    signed-in session; the figures of the clusters that user may see, or of those named by `?cluster=slug`
    (repeated or comma-separated; a slug not among them: 404). Streamed as it is read."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not key.strip():
            return _unauthorized("Authorization must be “Bearer <API token>”.")
        try:
            user, _token = ApiTokenAuthentication().authenticate_credentials(key.strip())
        except AuthenticationFailed as exc:
            return _unauthorized(str(exc.detail))
    elif request.user.is_authenticated:
        user = request.user
    else:
        return _unauthorized("An API token is needed: Authorization: Bearer <API token>.")
    slugs = [slug for value in request.GET.getlist("cluster") for slug in value.split(",") if slug]
    clusters, unknown = metrics.chosen_clusters(user, slugs)
    if unknown:
        return HttpResponse(
            f"cluster: no cluster {', '.join(unknown)} among yours.\n",
            status=404,
            content_type="text/plain; charset=utf-8",
        )
    chunks = metrics.exposition(clusters)
    return StreamingHttpResponse(
        _async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks, content_type=metrics.CONTENT_TYPE
    )


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A synchronous generator served under ASGI chunk by chunk (Django would otherwise read a synchronous one
    whole into a list before sending a byte): each step runs in the thread of the sync views, with its
    database connection."""
    step = sync_to_async(next, thread_sensitive=True)
    end = b""
    try:
        while chunk := await step(chunks, end):
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()
