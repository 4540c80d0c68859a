"""Prometheus metrics, one registry per process (`serve` at /metrics, `work --metrics-port`). Counters count what
this process did (Prometheus sums them over replicas); the queue depth is read from the shared ledger. Labels
are closed vocabularies (kind, outcome, provider instance, trigger, refusal reason): never a value from an
artifact or a request."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from responder.model import Finding, OutcomeStatus

if TYPE_CHECKING:
    from responder.execute import Engine
    from responder.service import Responder

_FAILED = frozenset({OutcomeStatus.FAILED_PERMANENT, OutcomeStatus.FAILED_TRANSIENT})


class Metrics:
    def __init__(self, queue_depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.intakes = Counter("responder_intakes", "Artifacts received", ["trigger"], registry=self.registry)
        self.findings = Counter(
            "responder_findings", "Credentials found in artifacts", ["kind"], registry=self.registry
        )
        self.actions = Counter(
            "responder_actions_finished",
            "Actions finished, by outcome",
            ["provider", "outcome"],
            registry=self.registry,
        )
        self.idp_errors = Counter(
            "responder_idp_errors",
            "Calls to an IdP that failed (an error answer, a 429, a timeout), retried ones included",
            ["provider"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "responder_revocation_latency_seconds",
            "From an action being planned to its outcome being recorded",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "responder_api_auth_failures", "Requests refused for their API key", ["reason"], registry=self.registry
        )
        self.webhook_refusals = Counter(
            "responder_webhook_refusals",
            "Webhook deliveries refused, by configured source (or (unknown)) and reason",
            ["source", "reason"],
            registry=self.registry,
        )
        self.registry.register(_QueueDepth(queue_depth))

    def intake_recorded(self, trigger: str, findings: Iterable[Finding]) -> None:
        """Every trigger: an upload, a ticket (webhook or sweep), `respond`."""
        self.intakes.labels(trigger).inc()
        for finding in findings:
            self.findings.labels(finding.kind.value).inc()

    def call_answered(self, provider: str, outcome: OutcomeStatus, *, reached: bool) -> None:
        """Each call the engine made to a plugin; `reached` is False when the plugin failed on its own."""
        if reached and outcome in _FAILED:
            self.idp_errors.labels(provider).inc()

    def action_finished(self, provider: str, outcome: OutcomeStatus, seconds: float | None) -> None:
        self.actions.labels(provider, outcome.value).inc()
        if seconds is not None and outcome is not OutcomeStatus.DRY_RUN:
            self.latency.observe(max(0.0, seconds))


def observed(responder: Responder) -> tuple[Metrics, Engine]:
    """This process's metrics, told of every intake `responder` records and of every call and finished action of
    the engine returned with them."""
    metrics = Metrics(responder.ledger.due_or_leased)
    responder.on_intake = metrics.intake_recorded
    return metrics, responder.engine(on_finish=metrics.action_finished, on_call=metrics.call_answered)


class _QueueDepth(Collector):
    """Read from the ledger at scrape time, so every replica reports the shared queue."""

    def __init__(self, depth: Callable[[], int]) -> None:
        self._depth = depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("responder_queue_depth", "Actions due now or held by a worker")
        try:
            gauge.add_metric([], self._depth())
        except Exception:
            return
        yield gauge
