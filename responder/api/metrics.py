"""Prometheus metrics, one registry per app. Labels are closed vocabularies (kind, outcome, provider instance,
trigger, refusal reason): never a value from an artifact or a request."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from responder.model import OutcomeStatus

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
            "responder_idp_errors", "Calls an IdP answered with a failure", ["provider"], registry=self.registry
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

    def action_finished(self, provider: str, outcome: OutcomeStatus, seconds: float | None) -> None:
        self.actions.labels(provider, outcome.value).inc()
        if outcome in _FAILED:
            self.idp_errors.labels(provider).inc()
        if seconds is not None and outcome is not OutcomeStatus.DRY_RUN:
            self.latency.observe(max(0.0, seconds))


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
