"""The follow-up's REST endpoints: timelines, checkpoints, alerts, subscriptions, webhooks."""
