"""`python -m lanthanide_screening`: run the screening service as its own process."""

from lanthanide.early import main

if __name__ == "__main__":
    main(
        "screening",
        settings="lanthanide_screening.settings:ScreeningSettings",
        app="lanthanide_screening.bootstrap:service_app",
    )
