"""Import OneRoster CSV bundles (1.0, 1.1, 1.2) into a school; SPEC.md section 10.

The bundle is read and checked first (reader), then applied in one
transaction (importer): all of it or, when ImportFailed is raised, none.
"""

from models.oneroster.importer import import_bundle
from models.oneroster.report import ImportFailed, ImportReport

__all__ = ["ImportFailed", "ImportReport", "import_bundle"]
