"""Names FreeSWITCH really reads, per configuration, for checking the rendered configs.

Taken from FreeSWITCH's sources and its vanilla configuration (signalwire/freeswitch):
the `strcasecmp(var, "...")` chains of each module's config loader and the parameters the
vanilla files list. A name that is not here is a typo (FreeSWITCH ignores unknown
parameters silently), unless it is added here from those sources.
"""

from __future__ import annotations

# sip_profiles/*.xml <profile><settings> (mod_sofia; conf/vanilla/sip_profiles/internal.xml)
SOFIA_PROFILE = frozenset({
    "accept-blind-auth", "accept-blind-reg", "aggressive-nat-detection", "alias",
    "all-reg-options-ping", "apply-inbound-acl", "apply-nat-acl", "apply-register-acl",
    "auth-all-packets", "auth-calls", "auth-subscriptions", "auto-invite-100",
    "auto-jitterbuffer-msec", "auto-rtp-bugs", "bind-params", "bitpacking",
    "caller-id-type", "challenge-realm", "cid-in-1xx", "context", "db-spin-up-wait-ms",
    "dbname", "debug", "delete-subs-on-register", "dialplan", "disable-naptr",
    "disable-register", "disable-rtp-auto-adjust", "disable-srv", "disable-srv503",
    "disable-transcoding", "disable-transfer", "dtmf-duration", "dtmf-type", "enable-100rel",
    "enable-3pcc", "enable-compact-headers", "enable-timer", "ext-rtp-ip", "ext-sip-ip",
    "extended-info-parsing", "force-register-db-domain", "force-register-domain",
    "force-subscription-domain", "force-subscription-expires",
    "forward-unsolicited-mwi-notify", "hold-music", "inbound-bypass-media",
    "inbound-codec-negotiation", "inbound-codec-prefs", "inbound-late-negotiation",
    "inbound-proxy-media", "inbound-reg-force-matching-username", "inbound-reg-in-new-thread",
    "inbound-use-callid-as-uuid", "liberal-dtmf", "local-network-acl", "log-auth-failures",
    "manage-presence", "manage-shared-appearance", "manual-redirect", "max-proceeding",
    "max-recv-requests-per-second", "media-option", "minimum-session-expires",
    "multiple-registrations", "nat-options-ping", "NDLB-broken-auth-hash",
    "NDLB-force-rport", "NDLB-received-in-nat-reg-contact", "nonce-ttl", "odbc-dsn",
    "outbound-codec-prefs", "outbound-use-uuid-as-callid", "pass-callee-id", "pass-rfc2833",
    "presence-hosts", "presence-privacy", "presence-probe-on-register",
    "presence-proto-lookup", "record-path", "record-template", "renegotiate-codec-on-hold",
    "rfc2833-pt", "rtcp-audio-interval-msec", "rtcp-video-interval-msec",
    "rtp-autofix-timing", "rtp-autoflush-during-bridge", "rtp-digit-delay",
    "rtp-hold-timeout-sec", "rtp-ip", "rtp-rewrite-timestamps", "rtp-timeout-sec",
    "rtp-timer-name", "send-message-query-on-register", "send-presence-on-register",
    "session-timeout", "shutdown-on-fail", "sip-capture", "sip-ip",
    "sip-messages-respond-200-ok", "sip-options-respond-503-on-busy", "sip-port",
    "sip-subscribe-respond-200-ok", "sip-subscription-max-deviation", "sip-trace",
    "suppress-cng", "timer-T1", "timer-T1X64", "timer-T2", "timer-T4", "tls",
    "tls-bind-params", "tls-cert-dir", "tls-ciphers", "tls-only", "tls-orq-connect-timeout",
    "tls-passphrase", "tls-sip-port", "tls-verify-date", "tls-verify-depth",
    "tls-verify-in-subjects", "tls-verify-policy", "tls-version",
    "unregister-on-options-fail", "user-agent-string", "vad", "watchdog-enabled",
    "watchdog-event-timeout", "watchdog-step-timeout", "ws-binding", "wss-binding",
})

# sofia.conf <global_settings> (conf/vanilla/autoload_configs/sofia.conf.xml)
SOFIA_GLOBAL = frozenset({
    "abort-on-empty-external-ip", "auto-restart", "capture-server", "debug-presence",
    "log-auth-failures", "log-level",
})

# switch.conf <settings> (switch_core.c; conf/vanilla/autoload_configs/switch.conf.xml)
SWITCH = frozenset({
    "1ms-timer", "ares-dns-timeout", "auto-clear-sql", "auto-create-schemas",
    "colorize-console", "core-db-dsn", "core-db-name", "core-dbtype", "cpu-idle-smoothing-depth",
    "db-handle-timeout", "debug-level", "default-dtmf-duration", "dialplan-timestamps",
    "dump-cores", "enable-clock-nanosleep", "enable-cond-yield", "enable-early-hangup",
    "enable-monotonic-timing", "enable-softtimer-timerfd", "enable-timer-matrix",
    "event-heartbeat-interval", "loglevel", "mailer-app", "mailer-app-args",
    "max-audio-channels", "max-db-handles", "max-dtmf-duration", "max-sessions",
    "max-sql-buffer-len", "min-dtmf-duration", "min-idle-cpu", "multiple-registrations",
    "odbc-skip-autocommit-flip", "rtp-end-port", "rtp-port-usage-robustness",
    "rtp-retain-crypto-keys", "rtp-start-port", "sessions-per-second", "sql-buffer-len",
    "switchname", "threaded-system-exec", "timer-affinity", "tipping-point",
    "verbose-channel-events",
})

# event_socket.conf <settings> (mod_event_socket; vanilla event_socket.conf.xml)
EVENT_SOCKET = frozenset({
    "apply-inbound-acl", "listen-ip", "listen-port", "nat-map", "password",
    "stop-on-bind-error",
})

# xml_curl.conf <binding> (mod_xml_curl.c do_config)
XML_CURL = frozenset({
    "auth-scheme", "bind-local", "cookie-file", "disable-100-continue",
    "enable-cacert-check", "enable-post-var", "enable-ssl-verifyhost", "gateway-credentials",
    "gateway-url", "method", "ssl-cacert-file", "ssl-cert-path", "ssl-key-password",
    "ssl-key-path", "ssl-version", "timeout", "use-dynamic-url",
})

# json_cdr.conf <settings> (mod_json_cdr.c load function)
JSON_CDR = frozenset({
    "auth-scheme", "cred", "delay", "disable-100-continue", "enable-cacert-check",
    "enable-ssl-verifyhost", "encode", "encode-values", "err-log-dir", "log-b-leg",
    "log-dir", "log-errors-to-disk", "log-http-and-disk", "prefix-a-leg", "queue-capacity",
    "retries", "rotate", "ssl-cacert-file", "ssl-cert-path", "ssl-key-password",
    "ssl-key-path", "ssl-version", "url",
})

# logfile.conf: <settings> and <profile><settings> (mod_logfile.c)
LOGFILE = frozenset({"rotate-on-hup"})
LOGFILE_PROFILE = frozenset({
    "channel-vars", "log-tags", "logfile", "maximum-rotate", "rollover", "uuid",
})
LOG_LEVELS = frozenset({"console", "debug", "info", "notice", "warning", "err", "crit",
                        "alert"})

# opus.conf <settings> (conf/vanilla/autoload_configs/opus.conf.xml)
OPUS = frozenset({
    "adjust-bitrate", "asymmetric-sample-rates", "complexity", "keep-fec-enabled",
    "maxaveragebitrate", "maxplaybackrate", "packet-loss-percent", "sprop-maxcapturerate",
    "use-dtx", "use-jb-lookahead", "use-vbr",
})

# avcodec.conf <settings> (conf/vanilla/autoload_configs/av.conf.xml)
AVCODEC = frozenset({
    "dec-threads", "enc-threads", "key-frame-min-freq", "max-bitrate", "rtp-slice-size",
})

# conference.conf <profile> (mod_conference.c conference_new; "_" reads as "-" there)
CONFERENCE_PROFILE = frozenset({
    "alone-sound", "announce-count", "auto-gain-level", "auto-record",
    "auto-record-canvas-id", "bad-pin-sound", "broadcast-chat-messages", "caller-controls",
    "caller-id-name", "caller-id-number", "cdr-event-mode", "cdr-log-dir", "channels",
    "comfort-noise", "conference-flags", "description", "domain", "endconf-grace-time",
    "energy-level", "enter-sound", "exit-sound", "interval", "is-locked-sound",
    "is-unlocked-sound", "ivr-dtmf-timeout", "ivr-input-timeout", "join-only-sound",
    "kicked-sound", "locked-sound", "max-members", "max-members-sound", "member-flags",
    "min-required-recording-participants", "moderator-controls", "moderator-pin",
    "moh-sound", "mute-detect-sound", "muted-sound", "outcall-templ", "perpetual-sound",
    "pin", "pin-retries", "pin-sound", "rate", "sound-prefix", "suppress-events",
    "terminate-on-silence", "timer-name", "tts-engine", "tts-voice", "unmuted-sound",
    "verbose-events", "video-auto-floor-msec", "video-border-color", "video-border-size",
    "video-canvas-bgcolor", "video-canvas-count", "video-canvas-size", "video-codec-bandwidth",
    "video-fps", "video-kps-debounce", "video-layout-name", "video-letterbox-bgcolor",
    "video-mode", "video-no-video-avatar", "video-quality", "video-super-canvas-bgcolor",
    "video-super-canvas-label-layers", "video-super-canvas-show-all-layers",
})
# conference-flags values (vanilla conference.conf.xml)
CONFERENCE_FLAGS = frozenset({
    "audio-always", "auto-3d-position", "livearray-sync", "minimize-video-encoding",
    "rfc-4579", "transcode-video", "video-bridge", "video-floor-only", "wait-mod",
})
# <caller-controls><group><control action=...> (vanilla conference.conf.xml)
CONFERENCE_CONTROLS = frozenset({
    "deaf mute", "energy dn", "energy equ", "energy up", "hangup", "mute", "vol listen dn",
    "vol listen up", "vol listen zero", "vol talk dn", "vol talk up", "vol talk zero",
})

# conference_layouts.conf (conference_video.c conference_video_parse_layouts)
LAYOUT_ATTRS = frozenset({
    "auto-3d-position", "bgimg", "border", "fgimg", "name", "transition-in",
    "transition-out",
})
IMAGE_ATTRS = frozenset({
    "audio-position", "border", "file-only", "floor", "floor-only", "hscale", "overlap",
    "reservation-id", "reservation_id", "role-id", "scale", "x", "y", "zoom",
})

# Global variables set in vars.xml that FreeSWITCH or its vanilla config reads.
VARS = frozenset({
    "default_language", "default_password", "domain", "domain_name", "external_rtp_ip",
    "external_sip_ip", "global_codec_prefs", "hold_music", "internal_auth_calls",
    "internal_sip_port", "internal_ssl_enable", "internal_tls_port", "outbound_caller_id",
    "outbound_caller_name", "outbound_codec_prefs", "presence_privacy",
    "rtp_liberal_dtmf", "rtp_video_max_bandwidth_in", "rtp_video_max_bandwidth_out",
    "sip_tls_ciphers", "sip_tls_version", "sound_prefix", "suppress_cng", "use_profile",
    "video_mute_png", "video_no_avatar_png",
})
PRE_PROCESS_COMMANDS = frozenset({"set", "include", "exec-set", "stun-set", "env-set"})

# Module names (src/mod/** of FreeSWITCH 1.10 and conf/vanilla/autoload_configs/modules.conf.xml)
MODULES = frozenset({
    "mod_amr", "mod_av", "mod_b64", "mod_cdr_csv", "mod_commands", "mod_conference",
    "mod_console", "mod_curl", "mod_db", "mod_dialplan_asterisk", "mod_dialplan_xml",
    "mod_dptools", "mod_enum", "mod_esf", "mod_event_socket", "mod_expr", "mod_fifo",
    "mod_fsv", "mod_g723_1", "mod_g729", "mod_h26x", "mod_hash", "mod_httapi",
    "mod_json_cdr", "mod_local_stream", "mod_logfile", "mod_loopback", "mod_lua",
    "mod_native_file", "mod_opus", "mod_png", "mod_rtc", "mod_say_en", "mod_say_zh",
    "mod_sndfile", "mod_sofia", "mod_spandsp", "mod_syslog", "mod_tone_stream",
    "mod_valet_parking", "mod_verto", "mod_voicemail", "mod_xml_cdr", "mod_xml_curl",
})

# <param name=...> places per rendered file (path under etc/freeswitch/): XPath -> names.
PARAMS: dict[str, dict[str, frozenset[str]]] = {
    "sip_profiles/internal.xml": {"./settings/param": SOFIA_PROFILE},
    "sip_profiles/vcbox_web.xml": {"./settings/param": SOFIA_PROFILE},
    "autoload_configs/sofia.conf.xml": {"./global_settings/param": SOFIA_GLOBAL},
    "autoload_configs/switch.conf.xml": {"./settings/param": SWITCH},
    "autoload_configs/event_socket.conf.xml": {"./settings/param": EVENT_SOCKET},
    "autoload_configs/xml_curl.conf.xml": {"./bindings/binding/param": XML_CURL},
    "autoload_configs/json_cdr.conf.xml": {"./settings/param": JSON_CDR},
    "autoload_configs/logfile.conf.xml": {"./settings/param": LOGFILE,
                                          "./profiles/profile/settings/param": LOGFILE_PROFILE},
    "autoload_configs/opus.conf.xml": {"./settings/param": OPUS},
    "autoload_configs/av.conf.xml": {"./settings/param": AVCODEC},
    "autoload_configs/conference.conf.xml": {"./profiles/profile/param": CONFERENCE_PROFILE},
}

# The <configuration name=...> each autoload file must declare (what modules look up).
CONFIGURATION_NAMES = {
    "autoload_configs/av.conf.xml": "avcodec.conf",
    "autoload_configs/conference.conf.xml": "conference.conf",
    "autoload_configs/conference_layouts.conf.xml": "conference_layouts.conf",
    "autoload_configs/event_socket.conf.xml": "event_socket.conf",
    "autoload_configs/json_cdr.conf.xml": "json_cdr.conf",
    "autoload_configs/logfile.conf.xml": "logfile.conf",
    "autoload_configs/modules.conf.xml": "modules.conf",
    "autoload_configs/opus.conf.xml": "opus.conf",
    "autoload_configs/sofia.conf.xml": "sofia.conf",
    "autoload_configs/switch.conf.xml": "switch.conf",
    "autoload_configs/xml_curl.conf.xml": "xml_curl.conf",
}
