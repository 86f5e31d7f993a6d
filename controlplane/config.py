"""Runtime configuration: paths, listen address and tunables, read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _int_env(env: dict[str, str], name: str, default: int) -> int:
    value = env.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Config:
    data_dir: Path
    root: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    public_url: str = ""
    session_idle_s: int = 30 * 60
    remember_days: int = 14
    lockout_attempts: int = 5
    lockout_s: int = 3 * 60
    reset_link_s: int = 10 * 60
    # Where services run: "systemd" on the appliance, "local" (child processes) elsewhere.
    service_mode: str = "local"
    # Services the local mode runs as child processes; the others get their config checked.
    local_services: tuple[str, ...] = ("janus", "coturn", "freeswitch")
    lan_ifname: str = "eth0"
    wan_ifname: str = "eth1"
    # The address media binds to while the interfaces use DHCP (see network settings).
    media_ip: str = "127.0.0.1"
    # Live network changes: "off" (files only, the dev default), "host", or "netns:<name>".
    network_live: str = "off"
    network_confirm_s: int = 120
    # FreeSWITCH's directory lookups get their own listener (0: served by the web port).
    directory_port: int = 0
    # sofia's SIP capture (HEP v3) for the terminal logs (O4): the listener's loopback port.
    hep_port: int = 9060
    # The dashboard's host samples (A8): seconds between two (tests sample faster).
    sample_interval_s: float = 10.0
    # The license public key (PEM); empty: the one shipped in controlplane/data.
    license_pubkey: str = ""
    # System upgrade (G1): the release key's public half (PEM; empty: <ROOT>/etc/vcbox/
    # release-key.pem, and no signature is required while that file is absent), the link
    # to the active release and the folder of the releases (the appliance's layout).
    release_key: str = ""
    app_link: Path = Path("/opt/vcbox/app")
    releases_dir: Path = Path("/opt/vcbox/releases")
    # GET /metrics for a scraper elsewhere: its bearer token (empty: loopback only, X3).
    metrics_token: str = ""
    # The disk quota job (D3): seconds between two runs; the folders besides the data dir
    # under which the storage path may be chosen (D1).
    disk_check_s: float = 60.0
    # How often the call records FreeSWITCH spilled are looked for again (K1).
    cdr_replay_s: float = 30.0
    disk_roots: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def documents_path(self) -> Path:
        return self.data_dir / "documents.json"

    @property
    def history_path(self) -> Path:
        return self.data_dir / "history.sqlite3"

    @property
    def release_key_path(self) -> Path:
        return Path(self.release_key) if self.release_key else \
            self.root / "etc" / "vcbox" / "release-key.pem"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.listen_host}:{self.listen_port}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("VCBOX_DATA") or "./var").resolve()
        root = Path(env.get("VCBOX_ROOT") or data_dir / "root").resolve()
        host, _, port = (env.get("VCBOX_LISTEN") or "127.0.0.1:8080").rpartition(":")
        return cls(
            data_dir=data_dir,
            root=root,
            listen_host=host.strip("[]") or "127.0.0.1",
            listen_port=int(port),
            public_url=env.get("VCBOX_PUBLIC_URL", ""),
            session_idle_s=_int_env(env, "VCBOX_SESSION_IDLE_S", 30 * 60),
            remember_days=_int_env(env, "VCBOX_REMEMBER_DAYS", 14),
            lockout_attempts=_int_env(env, "VCBOX_LOCKOUT_ATTEMPTS", 5),
            lockout_s=_int_env(env, "VCBOX_LOCKOUT_S", 3 * 60),
            reset_link_s=_int_env(env, "VCBOX_RESET_LINK_S", 10 * 60),
            service_mode=env.get("VCBOX_SERVICE_MODE") or ("systemd" if str(root) == "/"
                                                           else "local"),
            local_services=tuple(s for s in env.get("VCBOX_LOCAL_SERVICES",
                                                    "janus,coturn,freeswitch").split(",")
                                 if s),
            lan_ifname=env.get("VCBOX_LAN_IF", "eth0"),
            wan_ifname=env.get("VCBOX_WAN_IF", "eth1"),
            media_ip=env.get("VCBOX_MEDIA_IP", "127.0.0.1"),
            network_live=env.get("VCBOX_NETWORK_LIVE") or ("host" if str(root) == "/"
                                                           else "off"),
            network_confirm_s=_int_env(env, "VCBOX_NETWORK_CONFIRM_S", 120),
            directory_port=_int_env(env, "VCBOX_DIRECTORY_PORT", 8089),
            hep_port=_int_env(env, "VCBOX_HEP_PORT", 9060),
            sample_interval_s=float(env.get("VCBOX_SAMPLE_INTERVAL_S") or 10.0),
            license_pubkey=env.get("VCBOX_LICENSE_PUBKEY", ""),
            metrics_token=env.get("VCBOX_METRICS_TOKEN", ""),
            disk_check_s=float(env.get("VCBOX_DISK_CHECK_S") or 60.0),
            cdr_replay_s=float(env.get("VCBOX_CDR_REPLAY_S") or 30.0),
            disk_roots=tuple(p for p in env.get("VCBOX_DISK_ROOTS", "").split(os.pathsep)
                             if p),
            release_key=env.get("VCBOX_RELEASE_KEY", ""),
            app_link=Path(env.get("VCBOX_APP_LINK") or "/opt/vcbox/app"),
            releases_dir=Path(env.get("VCBOX_RELEASES") or "/opt/vcbox/releases"),
        )


def prompts_dir_from(env: Mapping[str, str] | None = None) -> Path:
    """Where the IVR prompts are made (controlplane/prompts.py) for local mode's FreeSWITCH
    to play, which links them under ROOT: VCBOX_PROMPTS, default <repo>/.cache/prompts
    (scripts/setup.sh makes them there). Read at each FreeSWITCH start, which is given
    ROOT only: not a Config field."""
    env = os.environ if env is None else env
    value = env.get("VCBOX_PROMPTS")
    return Path(value).resolve() if value else REPO / ".cache" / "prompts"
