//! The auth state as the state machine keeps it: applied in log order with the revision check
//! that stops a request checked against an older auth state, persisted with the data, and
//! carried by snapshot images to members that install them.

use keel_proto::etcdserverpb::{
    AuthEnableRequest, AuthUserAddRequest, AuthUserGrantRoleRequest, PutRequest,
};
use keel_proto::keelraft::auth_command::Request as AuthRequest;
use keel_proto::keelraft::command::Request as CommandRequest;
use keel_proto::keelraft::command_result::Result as CommandOutcome;
use keel_proto::keelraft::{AuthCommand, AuthHeader, Command, CommandResult};
use keel_store::mvcc::{Mvcc, RaftMeta};

fn apply(mvcc: &Mvcc, request: CommandRequest, header: Option<AuthHeader>) -> CommandResult {
    let mut batch = mvcc.begin_apply().unwrap();
    let result = batch
        .execute(&Command {
            request: Some(request),
            auth_header: header,
        })
        .unwrap();
    batch.commit(&RaftMeta::default()).unwrap();
    result
}

fn auth(request: AuthRequest) -> CommandRequest {
    CommandRequest::Auth(AuthCommand {
        request: Some(request),
    })
}

fn put(key: &str) -> CommandRequest {
    CommandRequest::Put(PutRequest {
        key: key.as_bytes().to_vec(),
        value: b"v".to_vec(),
        ..Default::default()
    })
}

fn header(revision: u64) -> Option<AuthHeader> {
    Some(AuthHeader {
        username: "root".into(),
        auth_revision: revision,
    })
}

#[test]
fn a_request_checked_against_an_older_auth_state_is_refused_and_the_state_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mvcc = Mvcc::open(&path).unwrap();
    apply(
        &mvcc,
        auth(AuthRequest::UserAdd(AuthUserAddRequest {
            name: "root".into(),
            hashed_password: "$2b$04$hash".into(),
            ..Default::default()
        })),
        None,
    );
    apply(
        &mvcc,
        auth(AuthRequest::UserGrantRole(AuthUserGrantRoleRequest {
            user: "root".into(),
            role: "root".into(),
        })),
        None,
    );
    let enabled = apply(&mvcc, auth(AuthRequest::Enable(AuthEnableRequest {})), None);
    assert!(matches!(
        enabled.result,
        Some(CommandOutcome::Auth(ref a)) if a.auth_revision == 3
    ));
    let state = mvcc.auth.state();
    assert!(state.enabled);

    // Checked at revision 2, applied at 3: refused, nothing written.
    let stale = apply(&mvcc, put("a"), header(2));
    match stale.result {
        Some(CommandOutcome::Error(err)) => {
            assert_eq!(err.message, "etcdserver: revision of auth store is old")
        }
        other => panic!("a stale check was applied: {other:?}"),
    }
    assert_eq!(mvcc.current_revision(), 1);
    let fresh = apply(&mvcc, put("a"), header(3));
    assert!(matches!(fresh.result, Some(CommandOutcome::Put(_))));
    // Requests the members make themselves (no header) are not checked.
    assert!(matches!(
        apply(&mvcc, put("b"), None).result,
        Some(CommandOutcome::Put(_))
    ));

    // A snapshot image carries it to another member.
    let (image, meta) = mvcc.export_image().unwrap();
    let other = Mvcc::open(&dir.path().join("other")).unwrap();
    other.install_image(&image, &meta).unwrap();
    assert_eq!(*other.auth.state(), *state);

    // And it is in the file.
    mvcc.persist().unwrap();
    drop(mvcc);
    let reopened = Mvcc::open(&path).unwrap();
    assert_eq!(*reopened.auth.state(), *state);
}
