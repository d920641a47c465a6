//! Signing figures (issue 11): what a signature adds per seal with a key file and
//! with an agent-held key, and verifying 1,000 signed seals, each beside a floor
//! measured in the same run. Run with `cargo bench --bench signing` (needs
//! OpenSSH's ssh-keygen, ssh-agent and ssh-add on PATH).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git_seal::signing::{self, AllowedSigners, KeyConfig, Policy, Revocations, SignEnv};
use sha2::{Digest, Sha256};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

fn message(i: usize) -> Vec<u8> {
    format!(
        r#"{{"author":{{"email":"ada@example.com","name":"Ada","time":"2026-01-01T00:00:00+00:00"}},"commit":"{i:040x}","committer":{{"email":"cy@example.com","name":"Cy","time":"2026-01-01T00:00:00+00:00"}},"kind":"commit","manifest":{{"algorithm":"sha256","bytes":123456,"digest":"sha256:{i:064x}","files":42}},"parent_seals":["sha256:{:064x}"],"parents":["{:040x}"],"schema":"git-seal/seal/v1","sealed_at":"2026-01-01T00:00:00Z","sealed_by":{{"email":"sam@example.com","name":"Sam"}},"tool":{{"name":"git-seal","version":"0.1.0"}},"tree":"{i:040x}"}}"#,
        i + 1,
        i + 1
    )
    .into_bytes()
}

fn ok(cmd: &mut Command) {
    let st = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    assert!(st.success(), "{cmd:?}");
}

fn keygen_sign(key: &Path, msg: &Path, sock: Option<&Path>) {
    let _ = std::fs::remove_file(msg.with_extension("sig"));
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-Y", "sign", "-n", "git-seal", "-f"])
        .arg(key)
        .arg(msg)
        .stdin(Stdio::null());
    match sock {
        Some(s) => cmd.env("SSH_AUTH_SOCK", s),
        None => cmd.env_remove("SSH_AUTH_SOCK"),
    };
    ok(&mut cmd);
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path();
    let key = home.join("id_ed25519");
    ok(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key));
    let msg = message(7);
    let msg_file = home.join("msg");
    std::fs::write(&msg_file, &msg).expect("write");
    let config = KeyConfig {
        seal_signing_key: Some(key.to_string_lossy().into_owned()),
        ..KeyConfig::default()
    };
    let env = SignEnv {
        home: Some(home.to_path_buf()),
        ssh_auth_sock: None,
    };

    // Per seal, post-commit resolves the key (reads the file) and signs.
    let native = time_ms(200, || {
        let k = signing::resolve(&config, &env)
            .expect("resolve")
            .expect("key");
        signing::sign(&k, "sam@example.com", &msg).expect("sign");
    });
    let sha = time_ms(200, || {
        std::hint::black_box(Sha256::digest(&msg));
    });
    let keygen_file = time_ms(20, || keygen_sign(&key, &msg_file, None));
    println!(
        "sign, key file (resolve + native ed25519 + self-check), median of 200: {native:.3} ms \
         (target ≤ 5 ms, ratio {:.3}); floor SHA-256 of the message {sha:.4} ms; \
         `ssh-keygen -Y sign -f key` (git's way) {keygen_file:.2} ms, ratio native/ssh-keygen {:.3}",
        native / 5.0,
        native / keygen_file
    );

    // Agent-held key: this module asks the agent itself.
    let sock = home.join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    let t = Instant::now();
    while !sock.exists() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    ok(Command::new("ssh-add")
        .arg("-q")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock));
    let pubfile = format!("{}.pub", key.display());
    std::fs::remove_file(&key).expect("private half only in the agent");
    let agent_config = KeyConfig {
        seal_signing_key: Some(pubfile.clone()),
        ..KeyConfig::default()
    };
    let agent_env = SignEnv {
        home: Some(home.to_path_buf()),
        ssh_auth_sock: Some(sock.clone().into_os_string()),
    };
    let via_agent = time_ms(30, || {
        let k = signing::resolve(&agent_config, &agent_env)
            .expect("resolve")
            .expect("key");
        signing::sign(&k, "sam@example.com", &msg).expect("sign");
    });
    let keygen_agent = time_ms(30, || {
        keygen_sign(Path::new(&pubfile), &msg_file, Some(&sock))
    });
    let spawn = time_ms(30, || {
        ok(Command::new("ssh-keygen").arg("-l").arg("-f").arg(&pubfile))
    });
    println!(
        "sign, agent-held key (one sign request to ssh-agent + self-check), median of 30: {via_agent:.3} ms \
         (target ≤ 5 ms, ratio {:.3}); `ssh-keygen -Y sign` via the agent (git's way) {keygen_agent:.2} ms, \
         ratio {:.3}; floor: spawning `ssh-keygen -l` {spawn:.2} ms",
        via_agent / 5.0,
        via_agent / keygen_agent
    );
    let _ = agent.kill();
    let _ = agent.wait();

    // Verify 1,000 signed seals against a 100-line allowed-signers file.
    let key2 = home.join("id2");
    ok(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key2));
    let k = signing::resolve(
        &KeyConfig {
            seal_signing_key: Some(key2.to_string_lossy().into_owned()),
            ..KeyConfig::default()
        },
        &env,
    )
    .expect("resolve")
    .expect("key");
    let pk = std::fs::read_to_string(format!("{}.pub", key2.display())).expect("pub");
    let mut allowed = String::new();
    for i in 0..99 {
        allowed.push_str(&format!("user{i}@example.com namespaces=\"git-seal\" {pk}"));
    }
    allowed.push_str(&format!(
        "*@example.com namespaces=\"git-seal\",valid-before=\"20300101Z\" {pk}"
    ));
    let policy = Policy {
        allowed: AllowedSigners::parse(&allowed),
        revoked: Revocations::default(),
    };
    let seals: Vec<(Vec<u8>, signing::Signature)> = (0..1000)
        .map(|i| {
            let m = message(i);
            let s = signing::sign(&k, "sam@example.com", &m).expect("sign");
            (m, s)
        })
        .collect();
    let verify = time_ms(5, || {
        for (m, s) in &seals {
            assert!(policy.verify(Some(s), m, 1_767_225_600).is_trusted());
        }
    }) / 1000.0;
    let parsed: Vec<_> = seals
        .iter()
        .map(|(m, s)| (m, signing::sshsig::parse(&s.sig).expect("parse")))
        .collect();
    let crypto = time_ms(5, || {
        for (m, p) in &parsed {
            p.check(signing::NAMESPACE, m).expect("check");
        }
    }) / 1000.0;
    let floor = time_ms(5, || {
        for (m, _) in &seals {
            std::hint::black_box(Sha256::digest(m));
        }
    }) / 1000.0;
    println!(
        "verify 1,000 signed seals (parse + ed25519 + 100-line policy), median of 5: {verify:.3} s \
         (target ≤ 1 s, ratio {verify:.3}); floor: the ed25519 checks alone {crypto:.3} s \
         (ratio {:.2}); SHA-256 of the 1,000 messages {floor:.5} s",
        verify / crypto
    );
}
