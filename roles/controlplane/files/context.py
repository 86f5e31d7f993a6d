"""Print, as JSON, the variables the control plane renders the configs with (settings
from its store, generated secrets, runtime values), so Ansible renders the same files.
Creates the store, and generates the secrets, on a host that has none yet."""

import json

from controlplane import secrets
from controlplane.apply.context import build
from controlplane.config import Config
from controlplane.settings import Settings
from controlplane.store import Documents

config = Config.from_env()
config.data_dir.mkdir(parents=True, exist_ok=True)
docs = Documents(config.documents_path)
print(json.dumps(build(Settings(docs).all(), secrets.ensure(docs), config)))
