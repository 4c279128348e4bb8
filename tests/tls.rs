//! End-to-end TLS, as etcd does it: a 3-member cluster with https client and peer URLs and
//! client-certificate authentication serves Debian's `etcdctl` and `keelctl` with etcdctl's
//! `--cacert/--cert/--key`; clients without a certificate, with another CA's or an expired one,
//! and plaintext clients are refused and logged (`rejected connection`) while the member keeps
//! serving good clients; a member whose peer certificate comes from another CA is kept out of
//! the cluster; an https listener without a certificate is a clear start-up error.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use keel::certs::{LocalCa, Validity};
use keel_proto::etcdserverpb::RangeRequest;
use keel_proto::etcdserverpb::kv_client::KvClient;
use support::{Cluster, ClusterTls, TlsPlan, wait_for};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

const ETCDCTL: &str = "/usr/bin/etcdctl";

/// Runs a client binary with `args`; (success, stdout, stderr).
async fn run(program: &str, args: Vec<String>) -> (bool, String, String) {
    let program = program.to_string();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(&program)
            .args(&args)
            .env("ETCDCTL_API", "3")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn with_flags(flags: &[String], endpoint: &str, command: &[&str]) -> Vec<String> {
    let mut args = flags.to_vec();
    args.extend(["--endpoints".to_string(), endpoint.to_string()]);
    args.extend(command.iter().map(|s| s.to_string()));
    args
}

/// A range request over a channel made with `tls` (or plaintext when `None`) to `url`.
async fn try_get(url: &str, tls: Option<ClientTlsConfig>) -> Result<(), String> {
    let mut endpoint = Channel::from_shared(url.to_string())
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(3));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    KvClient::new(channel)
        .range(RangeRequest {
            key: b"k".to_vec(),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

fn client_config(ca: &Path, cert_key: Option<(&Path, &Path)>) -> ClientTlsConfig {
    let mut config =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()));
    if let Some((cert, key)) = cert_key {
        config = config.identity(Identity::from_pem(
            std::fs::read(cert).unwrap(),
            std::fs::read(key).unwrap(),
        ));
    }
    config
}

/// Waits until `member`'s log holds at least `count` lines containing every one of `words`.
async fn wait_for_log(cluster: &Cluster, index: usize, words: &[&str], count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count_log(cluster, index, words) < count {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {count}x {words:?} in {}'s log:\n{}",
            cluster.members[index].name,
            cluster.members[index].log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count_log(cluster: &Cluster, index: usize, words: &[&str]) -> usize {
    cluster.members[index]
        .log()
        .lines()
        .filter(|line| words.iter().all(|w| line.contains(w)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_and_keelctl_use_a_tls_cluster_with_client_certificates() {
    let mut cluster = Cluster::plan_tls(
        3,
        &[],
        TlsPlan {
            client: true,
            peer: true,
        },
    );
    for member in &mut cluster.members {
        member.start();
    }
    cluster.leader().await;
    let flags = cluster.tls.as_ref().unwrap().client.flags();
    let endpoints: Vec<String> = cluster
        .members
        .iter()
        .map(|m| m.client_url.clone())
        .collect();
    let all = endpoints.join(",");

    if Path::new(ETCDCTL).exists() {
        let (ok, out, err) = run(
            ETCDCTL,
            with_flags(&flags, &all, &["put", "via/etcdctl", "1"]),
        )
        .await;
        assert!(ok, "etcdctl put: {out}{err}\n{}", cluster.dump_logs());
        assert_eq!(out.trim(), "OK");
    } else {
        eprintln!("{ETCDCTL} is not installed; only keelctl is checked");
        cluster.members[0].put("via/etcdctl", "1").await.unwrap();
    }
    let keelctl = env!("CARGO_BIN_EXE_keelctl");
    let (ok, out, err) = run(
        keelctl,
        with_flags(&flags, &all, &["put", "via/keelctl", "2"]),
    )
    .await;
    assert!(ok, "keelctl put: {out}{err}");
    assert_eq!(out.trim(), "OK");

    // Every member serves both writes, to both clients; keelctl also takes bare host:port
    // endpoints as https once TLS flags are given, as etcdctl does.
    for endpoint in &endpoints {
        let bare = endpoint.trim_start_matches("https://");
        let (ok, out, err) = run(
            keelctl,
            with_flags(&flags, bare, &["get", "via/", "--prefix"]),
        )
        .await;
        assert!(ok, "keelctl get from {endpoint}: {out}{err}");
        assert_eq!(out, "via/etcdctl\n1\nvia/keelctl\n2\n");
        if Path::new(ETCDCTL).exists() {
            let (ok, out, err) = run(
                ETCDCTL,
                with_flags(&flags, endpoint, &["get", "via/", "--prefix"]),
            )
            .await;
            assert!(ok, "etcdctl get from {endpoint}: {out}{err}");
            assert_eq!(out, "via/etcdctl\n1\nvia/keelctl\n2\n");
        }
    }

    // Without a client certificate etcdctl is refused.
    if Path::new(ETCDCTL).exists() {
        let ca_only = flags[..2].to_vec();
        let mut args = with_flags(&ca_only, &endpoints[0], &["get", "via/", "--prefix"]);
        args.extend(["--dial-timeout".into(), "1s".into()]);
        let (ok, out, _) = run(ETCDCTL, args).await;
        assert!(!ok, "etcdctl without a client certificate got {out}");
        wait_for_log(
            &cluster,
            0,
            &["rejected connection", "didn't provide a certificate"],
            1,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_certificates_and_plaintext_are_refused_and_logged() {
    let mut cluster = Cluster::plan_tls(
        1,
        &[],
        TlsPlan {
            client: true,
            peer: false,
        },
    );
    cluster.members[0].start();
    cluster.leader().await;
    let tls = cluster.tls.as_ref().unwrap();
    let url = cluster.members[0].client_url.clone();
    let good = client_config(&tls.client.ca, Some((&tls.client.cert, &tls.client.key)));
    try_get(&url, Some(good.clone())).await.unwrap();

    let other_ca = LocalCa::new("another CA").unwrap();
    let (other_cert, other_key) =
        ClusterTls::write_cert(&other_ca, &tls.dir, "other", "root", Validity::Current);
    let (old_cert, old_key) =
        ClusterTls::write_cert(&tls.ca, &tls.dir, "expired", "root", Validity::Expired);

    let cases: Vec<(&str, Option<ClientTlsConfig>, &str)> = vec![
        (
            "no client certificate",
            Some(client_config(&tls.client.ca, None)),
            "didn't provide a certificate",
        ),
        (
            "a certificate from another CA",
            Some(client_config(
                &tls.client.ca,
                Some((&other_cert, &other_key)),
            )),
            "UnknownIssuer",
        ),
        (
            "an expired certificate",
            Some(client_config(&tls.client.ca, Some((&old_cert, &old_key)))),
            "certificate expired",
        ),
        (
            "plaintext",
            None,
            "first record does not look like a TLS handshake",
        ),
    ];
    for (what, config, reason) in cases {
        let target = if config.is_none() {
            url.replacen("https://", "http://", 1)
        } else {
            url.clone()
        };
        let before = count_log(&cluster, 0, &["rejected connection", reason]);
        let result = try_get(&target, config).await;
        assert!(result.is_err(), "a client with {what} was served");
        wait_for_log(
            &cluster,
            0,
            &[
                "WARN",
                "rejected connection",
                "remote_addr=127.0.0.1:",
                reason,
            ],
            before + 1,
        )
        .await;
        // The member goes on serving a good client.
        try_get(&url, Some(good.clone()))
            .await
            .unwrap_or_else(|e| panic!("good client refused after {what}: {e}"));
    }
    assert_eq!(cluster.members[0].exited(), None, "{}", cluster.dump_logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_a_peer_certificate_from_another_ca_is_kept_out() {
    let mut cluster = Cluster::plan_tls(
        3,
        &[],
        TlsPlan {
            client: false,
            peer: true,
        },
    );
    {
        // m3's peer certificate (also its server certificate) comes from another CA.
        let tls = cluster.tls.as_ref().unwrap();
        let other_ca = LocalCa::new("rogue CA").unwrap();
        ClusterTls::write_cert(&other_ca, &tls.dir, "m3", "m3", Validity::Current);
    }
    for member in &mut cluster.members {
        member.start();
    }
    // m1 and m2 form a quorum on their own.
    let leader = wait_for(
        Duration::from_secs(20),
        "m1 and m2 to agree on a leader",
        || async {
            let (id1, leader1) = cluster.members[0].status().await?;
            let (id2, leader2) = cluster.members[1].status().await?;
            (leader1 != 0 && leader1 == leader2 && (leader1 == id1 || leader1 == id2))
                .then_some(leader1)
        },
    )
    .await;
    let leader_index = if cluster.members[0].status().await.unwrap().0 == leader {
        0
    } else {
        1
    };
    cluster.members[leader_index]
        .put("peer/tls", "kept")
        .await
        .unwrap_or_else(|e| panic!("write with m1+m2: {e}\n{}", cluster.dump_logs()));
    for index in [0, 1] {
        wait_for(
            Duration::from_secs(10),
            "m1 and m2 to apply the write",
            || async {
                let kvs = cluster.members[index]
                    .get_prefix("peer/", true)
                    .await
                    .ok()?;
                (kvs.len() == 1).then_some(())
            },
        )
        .await;
    }
    // m3 keeps trying; the good members refuse and log each attempt. Once they have refused
    // it again after the write, it still has neither the data nor a leader.
    for index in [0, 1] {
        let before = count_log(&cluster, index, &["rejected connection"]);
        wait_for_log(
            &cluster,
            index,
            &["WARN", "rejected connection", "UnknownIssuer"],
            before.max(1) + 1,
        )
        .await;
    }
    assert_eq!(cluster.members[2].exited(), None);
    let m3 = &cluster.members[2];
    assert_eq!(
        m3.get_prefix("peer/", true).await.unwrap(),
        Vec::<(String, String)>::new(),
        "m3 got the data\n{}",
        cluster.dump_logs()
    );
    let (_, m3_leader) = m3.status().await.unwrap();
    assert_eq!(m3_leader, 0, "m3 follows a leader\n{}", cluster.dump_logs());
    // The quorum of two still serves writes.
    cluster.members[leader_index]
        .put("peer/tls2", "still")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_listener_without_a_certificate_is_a_start_up_error() {
    let mut cluster = Cluster::plan(1, &[]);
    let member = &mut cluster.members[0];
    member.client_url = member.client_url.replacen("http://", "https://", 1);
    member.start();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = cluster.members[0].exited() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the member did not exit\n{}",
            cluster.dump_logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success());
    let log = cluster.members[0].log();
    assert!(
        log.contains("TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:"),
        "{log}"
    );
}

/// With `--client-cert-auth`, a request without a token is made by the user its certificate
/// names (CN), as in etcd: CN root may administer, CN alice only what her role allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_common_name_is_the_user_once_auth_is_enabled() {
    let mut cluster = Cluster::plan_tls(
        1,
        &[],
        TlsPlan {
            client: true,
            peer: false,
        },
    );
    cluster.members[0].start();
    cluster.leader().await;
    let tls = cluster.tls.as_ref().unwrap();
    let url = cluster.members[0].client_url.clone();
    let root = tls.client.flags();
    let (alice_cert, alice_key) =
        ClusterTls::write_cert(&tls.ca, &tls.dir, "alice", "alice", Validity::Current);
    let alice = support::ClientTlsFiles {
        ca: tls.client.ca.clone(),
        cert: alice_cert,
        key: alice_key,
    }
    .flags();
    let keelctl = env!("CARGO_BIN_EXE_keelctl");
    let ctl = |flags: &[String], command: &[&str]| run(keelctl, with_flags(flags, &url, command));
    for command in [
        &["role", "add", "dev"][..],
        &[
            "role",
            "grant-permission",
            "dev",
            "readwrite",
            "app/",
            "--prefix",
        ],
        &["user", "add", "alice", "--no-password"],
        &["user", "grant-role", "alice", "dev"],
        &["user", "add", "root:rootpw"],
        &["auth", "enable"],
    ] {
        let (ok, out, err) = ctl(&root, command).await;
        assert!(ok, "keelctl {command:?}: {out}{err}");
    }
    // CN root is the administrator: no --user needed.
    let (ok, out, err) = ctl(&root, &["put", "x", "1"]).await;
    assert!(ok && out.trim() == "OK", "root by certificate: {out}{err}");
    let (ok, out, _) = ctl(&root, &["user", "list"]).await;
    assert!(ok && out == "alice\nroot\n", "root lists users: {out}");
    // CN alice: her prefix only.
    let (ok, out, err) = ctl(&alice, &["put", "app/a", "1"]).await;
    assert!(ok && out.trim() == "OK", "alice in her prefix: {out}{err}");
    let (ok, _, err) = ctl(&alice, &["put", "x", "2"]).await;
    assert!(
        !ok && err.trim() == "Error: etcdserver: permission denied",
        "{err}"
    );
    let (ok, _, err) = ctl(&alice, &["user", "list"]).await;
    assert!(
        !ok && err.trim() == "Error: etcdserver: permission denied",
        "{err}"
    );
    if Path::new(ETCDCTL).exists() {
        let (ok, out, err) = run(ETCDCTL, with_flags(&alice, &url, &["get", "app/a"])).await;
        assert!(ok && out == "app/a\n1\n", "etcdctl as alice: {out}{err}");
        let (ok, out, err) = run(ETCDCTL, with_flags(&alice, &url, &["get", "x"])).await;
        assert!(
            !ok && err.contains("etcdserver: permission denied"),
            "{out}{err}"
        );
    }
    // A token still wins over the certificate: alice's cert with root's password is root.
    let mut as_root = alice.clone();
    as_root.extend(["--user".to_string(), "root:rootpw".to_string()]);
    let (ok, out, err) = ctl(&as_root, &["get", "x"]).await;
    assert!(ok && out == "x\n1\n", "token over certificate: {out}{err}");
}
