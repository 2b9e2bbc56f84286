"""Thin views over archive modules."""

from django.shortcuts import render

from .models import Snapshot


def home(request):
    recent = Snapshot.objects.visible_to(request.user).pages().order_by("-captured_at")[:20]
    return render(request, "home.html", {"recent": recent})
