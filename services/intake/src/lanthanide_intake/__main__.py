"""`python -m lanthanide_intake`: the intake service as its own process."""

from lanthanide.early import main

if __name__ == "__main__":
    main(
        "intake",
        settings="lanthanide_intake.settings:IntakeSettings",
        app="lanthanide_intake.bootstrap:service_app",
    )
