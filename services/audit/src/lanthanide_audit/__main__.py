"""`python -m lanthanide_audit`: run the audit service as its own process."""

from lanthanide.early import main

if __name__ == "__main__":
    main(
        "audit",
        settings="lanthanide_audit.settings:AuditSettings",
        app="lanthanide_audit.bootstrap:service_app",
        preflight="lanthanide_audit.bootstrap:require_keys",
    )
