"""Custom actions. rasa-sdk discovers every Action subclass in this package: `rasa run actions --actions bot.actions`."""
