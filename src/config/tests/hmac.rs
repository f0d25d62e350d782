//! The one HMAC key resolver ([`super::super::hmac`]) with an environment map: the CLI
//! entry point gives the same keys, refusals and warnings as `load` (serve) for the
//! same flags and variables, and never shows the secret.

use super::*;
use crate::config::hmac::{HmacFlags, key_ring, resolve_hmac};

/// Flags as owned values, borrowed into [`HmacFlags`] and copied into [`ServeArgs`].
#[derive(Default)]
struct Given {
    secret: Option<args::SecretArg>,
    file: Option<PathBuf>,
    id: Option<String>,
}

impl Given {
    fn flags(&self) -> HmacFlags<'_> {
        HmacFlags {
            secret: self.secret.as_ref(),
            secret_file: self.file.as_deref(),
            key_id: self.id.as_deref(),
        }
    }
    fn serve_args(&self) -> ServeArgs {
        ServeArgs {
            hmac_secret: self.secret.clone(),
            hmac_secret_file: self.file.clone(),
            hmac_key_id: self.id.clone(),
            ..ServeArgs::default()
        }
    }
}

fn cli_errors(g: &Given, env: &HashMap<String, String>) -> Vec<String> {
    match resolve_hmac(g.flags(), env) {
        Ok(c) => panic!("expected errors, got key {:?}", c.key),
        Err(e) => e,
    }
}

#[test]
fn env_only_and_flag_only_give_the_key() {
    let c = resolve_hmac(HmacFlags::default(), &map(&[("SIGNET_HMAC_SECRET", HEX32)])).unwrap();
    let key = c.key.expect("key from SIGNET_HMAC_SECRET");
    assert_eq!((key.to_hex_secret().as_str(), key.id()), (HEX32, "k1"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.hex", HEX32_B);
    let env = map(&[("SIGNET_HMAC_SECRET_FILE", f.to_str().unwrap())]);
    let key = resolve_hmac(HmacFlags::default(), &env)
        .unwrap()
        .key
        .unwrap();
    assert_eq!(key.to_hex_secret().as_str(), HEX32_B);

    let g = Given {
        secret: Some(args::SecretArg::new(HEX32_B)),
        ..Given::default()
    };
    let c = resolve_hmac(g.flags(), &map(&[])).unwrap();
    assert_eq!(c.key.unwrap().to_hex_secret().as_str(), HEX32_B);
    assert!(
        c.warnings.iter().any(|w| w.contains("process list")),
        "{:?}",
        c.warnings
    );
    assert!(!c.warnings.concat().contains(HEX32_B));
}

#[test]
fn no_secret_is_not_an_error_and_the_key_id_still_resolves() {
    let c = resolve_hmac(HmacFlags::default(), &map(&[])).unwrap();
    assert!(c.key.is_none());
    assert_eq!(c.id, "k1");
    let c = resolve_hmac(HmacFlags::default(), &map(&[("SIGNET_HMAC_KEY_ID", "k7")])).unwrap();
    assert_eq!(c.id, "k7");
    let g = Given {
        id: Some("k9".into()),
        ..Given::default()
    };
    let env = map(&[("SIGNET_HMAC_KEY_ID", "k7"), ("SIGNET_HMAC_SECRET", HEX32)]);
    let c = resolve_hmac(g.flags(), &env).unwrap();
    assert_eq!((c.id.as_str(), c.key.unwrap().id()), ("k9", "k9"));
}

#[test]
fn a_flag_beats_the_environment_as_in_serve() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.hex", HEX32_B);
    let g = Given {
        file: Some(f),
        ..Given::default()
    };
    let env = map(&[("SIGNET_HMAC_SECRET", HEX32)]);
    let cli = resolve_hmac(g.flags(), &env).unwrap().key.unwrap();
    assert_eq!(cli.to_hex_secret().as_str(), HEX32_B);
    let (served, _) = ok(&g.serve_args(), &base(&[]));
    assert_eq!(secret_of(&served), HEX32_B);
}

/// Flags, variables, and the start of the one error expected.
type Case = (Given, Vec<(&'static str, &'static str)>, &'static str);

/// Every refusal: the CLI resolver reports exactly what `signet serve` reports.
#[test]
fn refusals_are_those_of_serve_and_never_show_the_secret() {
    let both_flags = Given {
        secret: Some(args::SecretArg::new(HEX32_B)),
        file: Some("/nonexistent/s.hex".into()),
        ..Given::default()
    };
    let bad_id = Given {
        id: Some("bad id".into()),
        ..Given::default()
    };
    let cases: Vec<Case> = vec![
        (
            both_flags,
            vec![],
            "--hmac-secret and --hmac-secret-file are both given; use one",
        ),
        (
            Given::default(),
            vec![
                ("SIGNET_HMAC_SECRET", HEX32_B),
                ("SIGNET_HMAC_SECRET_FILE", "/x"),
            ],
            "SIGNET_HMAC_SECRET and SIGNET_HMAC_SECRET_FILE are both set; set one",
        ),
        (
            Given::default(),
            vec![("SIGNET_HMAC_SECRET", HEX16)],
            "SIGNET_HMAC_SECRET: hmac key is 16 bytes; at least 32 are required",
        ),
        (
            bad_id,
            vec![("SIGNET_HMAC_SECRET", HEX32_B)],
            "--hmac-key-id: ",
        ),
    ];
    for (g, vars, want) in cases {
        let env = map(&vars);
        let cli = cli_errors(&g, &env);
        let mut serve_env = env.clone();
        serve_env.insert("SIGNET_UPSTREAM_URL".into(), "http://127.0.0.1:9/v1".into());
        let serve = errs(&g.serve_args(), &serve_env);
        assert_eq!(cli, serve, "{want}");
        assert!(cli.len() == 1 && cli[0].starts_with(want), "{cli:?}");
        let all = cli.concat();
        assert!(!all.contains(HEX32_B) && !all.contains(HEX16), "{all}");
    }
}

#[test]
fn extra_keys_join_the_ring_and_duplicates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "k2.hex", HEX32_B);
    let primary = signet_audit::HmacKey::from_hex("k1", HEX32).unwrap();
    let ring = key_ring(Some(primary.clone()), &[format!("k2={}", f.display())]).unwrap();
    assert_eq!(ring.ids().collect::<Vec<_>>().len(), 2);
    assert!(ring.get("k1").is_some() && ring.get("k2").is_some());
    let dup = key_ring(Some(primary), &[format!("k1={}", f.display())]).unwrap_err();
    assert!(dup.starts_with("--key"), "{dup}");
    let bad = key_ring(None, &["k2".to_owned()]).unwrap_err();
    assert_eq!(bad, "--key \"k2\": expected ID=FILE");
}
