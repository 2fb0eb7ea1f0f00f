"""`supportbot stats`: what editors learn from the customers' "was this helpful?"."""
from __future__ import annotations


def test_the_editors_report_puts_the_least_helpful_answers_first():
    from supportbot.cli import feedback_report

    feedback = {"billing-refund": {"helpful": 1, "not_helpful": 3}, "tv-app": {"helpful": 4, "not_helpful": 0},
                "mobile-esim": {"helpful": 0, "not_helpful": 1}}
    lines = feedback_report(feedback, {"billing-refund": "How do I get a refund?"})
    assert [line.split()[2] for line in lines[1:]] == ["mobile-esim", "billing-refund", "tv-app"]
    assert lines[2].split()[:2] == ["75%", "4"] and lines[2].endswith("(How do I get a refund?)")
    assert feedback_report({}, {}) == ["no answer has been rated yet"]
