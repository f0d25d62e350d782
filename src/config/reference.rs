//! The configuration reference: every setting of `signet serve` with its config-file
//! key, environment variable, flag and default, and every command's flags, rendered
//! as the generated parts of `docs/configuration.md`.
//!
//! Guarantees: the names come from the same constants the resolver reads and the
//! defaults from [`super::defaults`], and the flags from the clap command tree, so the
//! document cannot drift from the code; tests in `src/config/tests/reference.rs` compare the
//! document with this rendering and the lists with serde's and clap's own.

use super::defaults as d;
use super::resolve::{self as r, Names};

/// One setting of `signet serve`.
pub(crate) struct Setting {
    /// TOML key (top level unless it has a dot or brackets).
    pub key: &'static str,
    pub env: Option<&'static str>,
    pub flag: Option<&'static str>,
    pub default: String,
    pub meaning: &'static str,
}

fn s(n: Names, default: impl ToString, meaning: &'static str) -> Setting {
    Setting {
        key: n.key,
        env: Some(n.env),
        flag: n.flag,
        default: default.to_string(),
        meaning,
    }
}

fn secs(t: std::time::Duration) -> String {
    t.as_secs().to_string()
}

/// Every setting, in the order of the document.
pub(crate) fn settings() -> Vec<Setting> {
    let log_format = match d::LOG_FORMAT {
        super::LogFormat::Text => "text",
        super::LogFormat::Json => "json",
    };
    vec![
        s(
            r::UPSTREAM,
            "(required)",
            "Upstream base URL (`http://` or `https://`, optional base path such as `/v1`).",
        ),
        s(r::HOST, d::HOST, "Address to listen on."),
        s(
            r::PORT,
            d::PORT,
            "Port to listen on; `0` picks a free one (the start-up line on stdout names it).",
        ),
        s(
            r::WORKERS,
            d::WORKERS,
            "Threads serving connections, each with a single-threaded runtime; connections are handed to them in turn. `0`: one per available CPU.",
        ),
        s(
            r::AUDIT_LOG,
            d::AUDIT_LOG_PATH,
            "The audit log (JSONL). Sidecars `<log>.tree`, `<log>.checkpoints`, `<log>.anchors` sit beside it.",
        ),
        Setting {
            key: "hmac_secret_file",
            env: Some("SIGNET_HMAC_SECRET_FILE"),
            flag: Some("--hmac-secret-file"),
            default: "(one secret source required)".into(),
            meaning: "File holding the hex HMAC secret (at least 32 bytes) that chains the log and signs HMAC receipts.",
        },
        Setting {
            key: "(refused)",
            env: Some("SIGNET_HMAC_SECRET"),
            flag: Some("--hmac-secret"),
            default: "(one secret source required)".into(),
            meaning: "The hex HMAC secret itself. The flag shows it in the process list (warned); never accepted from the config file.",
        },
        s(
            r::KEY_ID,
            d::HMAC_KEY_ID,
            "Key id written in each entry's `_signing_key_id`, for rotation.",
        ),
        s(
            r::MAX_BODY,
            d::MAX_REQUEST_BODY_BYTES,
            "Largest request body; one byte more is refused with 413 (and audited).",
        ),
        s(
            r::MAX_INSPECT,
            d::MAX_INSPECT_BYTES,
            "Largest unary response held for inspection; more is refused with 502.",
        ),
        s(
            r::REQUEST_TIMEOUT,
            secs(d::REQUEST_TIMEOUT),
            "Whole-request deadline in seconds (upstream answer and body).",
        ),
        s(
            r::HEADER_TIMEOUT,
            secs(d::HEADER_READ_TIMEOUT),
            "Time a client has to send its request head, in seconds.",
        ),
        s(
            r::CONNECT_TIMEOUT,
            secs(d::UPSTREAM_CONNECT_TIMEOUT),
            "Upstream connect timeout in seconds.",
        ),
        s(
            r::RECEIPT_HEADER,
            d::RECEIPT_HEADER_NAME,
            "Response header (and SSE trailer) carrying the receipt.",
        ),
        s(
            r::EMIT_RECEIPTS,
            d::EMIT_RECEIPTS,
            "Send receipts to callers. Entries are written either way.",
        ),
        s(
            r::RECEIPT_KEY,
            "(none: HMAC receipts)",
            "Ed25519 receipt key (PKCS#8 PEM): receipts anyone can check with the public key.",
        ),
        s(
            r::SHADOW,
            d::SHADOW,
            "Shadow mode: record would-be refusals but forward anyway (warned at start).",
        ),
        s(
            r::STRICT,
            d::STRICT_ERROR_REDACTION,
            "Give clients only generic error texts; `--verbose-errors` sets it to false (development).",
        ),
        s(
            r::LOG_FORMAT,
            log_format,
            "Process log format on stderr: `text` or `json`. Bodies and secrets are never logged.",
        ),
        s(
            r::TWO_PHASE,
            d::TWO_PHASE,
            "Write an intent entry before forwarding, then the outcome entry.",
        ),
        Setting {
            key: "(refused)",
            env: Some("SIGNET_UPSTREAM_API_KEY"),
            flag: None,
            default: "(none: the caller's Authorization is forwarded)".into(),
            meaning: "API key that replaces the caller's `Authorization` towards the upstream.",
        },
        Setting {
            key: "(refused)",
            env: Some("SIGNET_UPSTREAM_API_KEY_FILE"),
            flag: None,
            default: "(none)".into(),
            meaning: "File holding that API key (trimmed; at most 64 KiB), e.g. a mounted secret. Not together with `SIGNET_UPSTREAM_API_KEY`.",
        },
        s(
            r::TLS_CERT,
            "(none: plain HTTP)",
            "Listener certificate chain (PEM); needs `tls_key`.",
        ),
        s(
            r::TLS_KEY,
            "(none: plain HTTP)",
            "Listener private key (PEM); needs `tls_cert`.",
        ),
        s(
            r::UPSTREAM_CA,
            "(system roots)",
            "CA certificates (PEM) trusted for an `https://` upstream.",
        ),
        s(
            r::LOG_KEY,
            "(none: checkpoints off)",
            "Ed25519 log key (PKCS#8 PEM) signing checkpoints of the Merkle tree.",
        ),
        s(
            r::ORIGIN,
            format!("<hostname>{}", d::ORIGIN_SUFFIX),
            "Checkpoint origin line and signed-note key name.",
        ),
        s(
            r::CHECKPOINT_EVERY,
            d::CHECKPOINT_EVERY,
            "Sign a checkpoint after this many new entries.",
        ),
        s(
            r::CHECKPOINT_INTERVAL,
            d::CHECKPOINT_INTERVAL.as_millis(),
            "Sign a checkpoint after this many milliseconds when entries are pending.",
        ),
        s(
            r::TSA_URL,
            "(none: no anchoring)",
            "RFC 3161 time-stamping authority anchoring checkpoints; needs `log_key` and `tsa_root`.",
        ),
        s(
            r::TSA_ROOT,
            "(none)",
            "Root certificate(s) (PEM) that TSA tokens are verified against.",
        ),
        s(
            r::TSA_CA,
            "(system roots)",
            "CA certificate(s) (PEM) trusted for an `https://` TSA's TLS certificate; without it the system roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` honoured). The TLS stack is the upstream's.",
        ),
        Setting {
            key: "(n/a)",
            env: Some("SIGNET_CONFIG"),
            flag: Some("--config"),
            default: "(none)".into(),
            meaning: "The TOML config file. Relative paths in it are taken from its own directory.",
        },
        Setting {
            key: "[dangerous] open_policy",
            env: None,
            flag: None,
            default: "false".into(),
            meaning: "Run with NO admission or inspection checks (warned at start; not reloadable).",
        },
        Setting {
            key: "[policy]",
            env: None,
            flag: None,
            default: "(the safe default policy)".into(),
            meaning: "Which checks run; see the policy section. Reloaded on SIGHUP.",
        },
    ]
}

fn code(t: Option<&str>) -> String {
    t.map_or_else(|| "–".to_owned(), |t| format!("`{t}`"))
}

/// The settings table as Markdown.
pub(crate) fn settings_markdown() -> String {
    let mut out = String::from(
        "| config file key | environment | flag | default | meaning |\n|---|---|---|---|---|\n",
    );
    for x in settings() {
        let key = if x.key.starts_with('(') {
            x.key.to_owned()
        } else {
            format!("`{}`", x.key)
        };
        out.push_str(&format!(
            "| {key} | {} | {} | {} | {} |\n",
            code(x.env),
            code(x.flag),
            if x.default.starts_with('(') {
                x.default.clone()
            } else {
                format!("`{}`", x.default)
            },
            x.meaning
        ));
    }
    out
}

/// Every command's flags and arguments, from the clap command tree, as Markdown.
pub(crate) fn commands_markdown(root: &clap::Command) -> String {
    let mut out = String::new();
    walk(root, &mut Vec::new(), &mut out);
    out
}

fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut String) {
    path.push(cmd.get_name().to_owned());
    let subs: Vec<&clap::Command> = cmd.get_subcommands().collect();
    if subs.is_empty() || path.len() == 1 {
        let args: Vec<&clap::Arg> = cmd
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .collect();
        if path.len() > 1 {
            let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push_str(&format!("### `{}`\n\n{about}\n\n", path.join(" ")));
            if args.is_empty() {
                out.push_str("No options.\n\n");
            } else {
                out.push_str("| argument | default | meaning |\n|---|---|---|\n");
                for a in args {
                    out.push_str(&format!(
                        "| {} | {} | {} |\n",
                        arg_name(a),
                        arg_default(a),
                        a.get_help()
                            .map(|h| h.to_string().replace('\n', " ").replace('|', "\\|"))
                            .unwrap_or_default()
                    ));
                }
                out.push('\n');
            }
        }
    }
    for s in subs {
        if s.get_name() != "help" {
            walk(s, path, out);
        }
    }
    path.pop();
}

fn arg_name(a: &clap::Arg) -> String {
    let value = a
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| a.get_id().as_str().to_uppercase())
        .replace('|', "\\|");
    match (a.get_long(), a.is_positional()) {
        (_, true) => format!("`{value}`"),
        (Some(l), false) if matches!(a.get_action(), clap::ArgAction::SetTrue) => {
            format!("`--{l}`")
        }
        (Some(l), false) => format!("`--{l} {value}`{}", aliases(a)),
        (None, false) => format!("`{}`", a.get_id()),
    }
}

/// ` (also `--x`)` for an option's visible long aliases; empty without any.
fn aliases(a: &clap::Arg) -> String {
    let all: Vec<String> = a
        .get_visible_aliases()
        .unwrap_or_default()
        .iter()
        .map(|x| format!("`--{x}`"))
        .collect();
    match all.is_empty() {
        true => String::new(),
        false => format!(" (also {})", all.join(", ")),
    }
}

fn arg_default(a: &clap::Arg) -> String {
    let v: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if v.is_empty() || matches!(a.get_action(), clap::ArgAction::SetTrue) {
        "–".to_owned()
    } else {
        format!("`{}`", v.join(","))
    }
}
