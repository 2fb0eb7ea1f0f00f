"""The contract between the parts: what a bot message says it is (its kind), why a conversation goes to a person,
the customer's mood, the handoff packet the agents read, and what a customer may send. It imports nothing from
the project, so the bot, the gateway, the channels and the console can all depend on it."""
