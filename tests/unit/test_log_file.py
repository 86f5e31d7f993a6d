"""The control plane's own log file (controlplane/server.py LogFile): what the system logs
export takes as the Web part, kept going when the logs folder is emptied."""

from __future__ import annotations

import logging
from pathlib import Path

from controlplane.config import Config
from controlplane.server import LOG_FILE, log_to_file


def test_the_log_goes_to_the_data_dir_and_survives_the_folder_being_emptied(
        tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data", root=tmp_path / "root")
    handler = log_to_file(config)
    logger = logging.getLogger("vcbox.test.logfile")
    logger.setLevel(logging.INFO)
    try:
        path = config.data_dir.joinpath(*LOG_FILE)
        logger.info("first line")
        handler.flush()
        assert "first line" in path.read_text()
        # A factory reset or "clean now" deletes the folder's files.
        path.unlink()
        logger.info("after the clean")
        handler.flush()
        assert path.read_text().strip().endswith("after the clean")
        assert "first line" not in path.read_text()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_its_times_are_utc_with_their_offset(tmp_path: Path) -> None:
    import re

    config = Config(data_dir=tmp_path / "data", root=tmp_path / "root")
    handler = log_to_file(config)
    logger = logging.getLogger("vcbox.test.logfile.utc")
    logger.setLevel(logging.INFO)
    try:
        logger.info("stamped")
        handler.flush()
        line = config.data_dir.joinpath(*LOG_FILE).read_text().splitlines()[-1]
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 INFO ", line), line
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
