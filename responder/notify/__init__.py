"""Notifications: when an intake with live credentials or a panic is finished, tell people (Slack, a signed JSON
webhook, email) who was affected, what was revoked and what failed, through a durable outbox in the ledger.

Import the parts from their modules (`responder.notify.worker.NotifyWorker`): responder.settings imports
`responder.notify.settings`, so this package's own import must stay free of the ledger and the service."""
