"""Celery tasks of traces: thin wrappers over :mod:`provenance.trace` and the Trace model.

Registered in every process by ``ProvenanceConfig.ready`` and addressed by name from
``provenance.trace.enqueue_trace``, so ``trace`` never imports this module (no import cycle)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True)
def run_trace_task(trace_id: int) -> str:
    from provenance.trace import run_trace

    return run_trace(trace_id).state


@shared_task(ignore_result=True)
def sweep_stale_traces() -> int:
    from provenance.models import Trace

    return Trace.sweep_stale()
