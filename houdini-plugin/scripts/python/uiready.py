"""Synapse startup hook: Houdini runs ``scripts/python/uiready.py`` once its UI is ready.

It only *starts* Synapse: ``synapse_houdini.start()`` returns at once and does the
slow parts (finding, spawning or connecting to ``synapsed``) on a background
thread, so Houdini's start never waits. A refusal of the boot gate
(``BootRefused``) has already been logged by ``start()`` in one line; it is caught
here so that it never shows up as a startup error. Anything unexpected is logged
in one line too: a broken agent must never break Houdini.
"""

import logging


def _start_synapse() -> None:
    log = logging.getLogger("synapse_houdini")
    try:
        import synapse_houdini
    except Exception as exc:  # noqa: BLE001
        log.warning("Synapse not started: cannot import synapse_houdini (%s)", exc)
        return
    try:
        synapse_houdini.start()
    except synapse_houdini.BootRefused:
        pass  # start() logged the one-line reason
    except Exception as exc:  # noqa: BLE001
        log.warning("Synapse not started: %s: %s", type(exc).__name__, exc)


_start_synapse()
