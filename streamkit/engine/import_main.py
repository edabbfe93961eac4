"""``python -m streamkit.engine.import_main``: one of ImportTable's worker processes.

A module of its own, imported by nothing, so that running it does not run a module the
package has already imported (:mod:`streamkit.engine.importworker` has the code).
"""

from __future__ import annotations

from streamkit.engine.importworker import main

if __name__ == "__main__":
    main()
