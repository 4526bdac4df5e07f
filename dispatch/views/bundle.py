"""/agent/download/: the agent bundle as a page of links pip reads, and its files.

No sign-in: the hosts that fetch it have no console account, and what it serves is public already — the
agent's own wheel (no configuration, no key, no token) and packages from the public index, pinned by the
agent's lock. Gating it with the enrollment token would make the one-time token a two-time one (pip here,
`lvsweb-agent enroll` later) and print it into shell history twice; what a host is trusted with comes from
enrolling, not from installing. The page does tell anyone who asks which agent version this console ships.
"""

from django.http import FileResponse, Http404, HttpResponse
from django.template.loader import render_to_string
from django.views import View

from dispatch.bundle import CHECKSUMS, MANIFEST, load_bundle

CONTENT_TYPES = {".whl": "application/zip", ".json": "application/json"}


class AgentDownloadIndexView(View):
    """The links, each with `#sha256=` so that pip checks what it downloads; 404 before a bundle is built."""

    def get(self, request):
        bundle = load_bundle()
        if bundle is None:
            return HttpResponse(
                "No agent bundle has been built on this console: run `manage.py build_agent_bundle` there.\n",
                status=404,
                content_type="text/plain; charset=utf-8",
            )
        html = render_to_string(
            "hosts/agent_download.html", {"bundle": bundle, "extra": [CHECKSUMS, MANIFEST]}, request=request
        )
        return HttpResponse(html)


class AgentDownloadFileView(View):
    """One file the manifest lists (its SHA256SUMS and the manifest too); any other name is a 404."""

    def get(self, request, name: str):
        bundle = load_bundle()
        if bundle is None:
            raise Http404("No agent bundle has been built.")
        path = bundle.path(name) if name not in (CHECKSUMS, MANIFEST) else bundle.folder / name
        if path is None or not path.is_file():
            raise Http404("No such file in the agent bundle.")
        content_type = CONTENT_TYPES.get(path.suffix, "text/plain; charset=utf-8")
        return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type=content_type)
