"""Where aichain keeps its own state: AICHAIN_HOME, else the user data folder.

Never the working folder, so results do not depend on where a command runs.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "AICHAIN_HOME"


def aichain_home() -> Path:
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("aichain-audit", appauthor=False))
