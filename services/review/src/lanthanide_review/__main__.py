"""`python -m lanthanide_review`: the review consumer, outbox relay, SLA timer and HTTP API."""

from lanthanide.early import main

if __name__ == "__main__":
    main(
        "review",
        settings="lanthanide_review.settings:ReviewSettings",
        app="lanthanide_review.bootstrap:service_app",
    )
