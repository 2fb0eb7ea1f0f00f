"""What the bot does with a message, chosen in one place (`policy.decide.decide`) from the evidence the actions
gather: the intent, the mood, a request for a person, the knowledge's own verdict (knowledge.decision), the
buttons pressed and the answers that did not help. It imports only protocol/ and knowledge/."""
