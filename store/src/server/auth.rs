//! `etcdserverpb.Auth`, and the check every KV, Watch, Lease, Cluster and Maintenance request
//! makes before it runs (etcd's `AuthInfoFromCtx` + `Is*Permitted`).
//!
//! Who is asking: the user named by the `token` metadata entry (a token from Authenticate),
//! else the CN of the client's TLS certificate when `--client-cert-auth` is on, else nobody.
//! A token that is not (or no longer) valid is refused with "invalid auth token" even where no
//! permission is needed, as etcd does. While auth is disabled every request is allowed.
//!
//! The check runs against the auth state this member has applied; the proposal carries the
//! user and that state's revision, and the state machine refuses it ("revision of auth store
//! is old") if users or roles changed in between, so a revoked permission cannot slip through.
//! Passwords are hashed with bcrypt (`--bcrypt-cost`, etcd's default 10) on the member that
//! takes the request, before anything is proposed: the Raft log never holds a password.

use std::sync::Arc;

use keel_proto::authpb::Permission;
use keel_proto::etcdserverpb::auth_server::{Auth, AuthServer};
use keel_proto::etcdserverpb::request_op::Request as Op;
use keel_proto::etcdserverpb::*;
use keel_proto::keelraft::auth_command::Request as AuthRequest;
use keel_proto::keelraft::command_result::Result as CommandOutcome;
use keel_proto::keelraft::{AuthCommand, AuthHeader, AuthState, AuthenticateCommand, Command};
use tonic::{Request, Response, Status};

use super::member::Member;
use crate::auth::{Access, apply, permissions, tokens};
use crate::error::StoreError;

/// The metadata key clients put their token under (etcd's `rpctypes.TokenFieldNameGRPC`).
pub const TOKEN_METADATA_KEY: &str = "token";

/// Who sent a request, and the auth state it is checked against.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: Option<String>,
    pub state: Arc<AuthState>,
}

/// What a request presents to say who sent it, taken from it before any waiting (a request
/// with a stream body cannot be held across an await).
#[derive(Clone, Debug)]
pub enum Credentials {
    /// Auth is disabled: nobody needs to be named.
    Open(Arc<AuthState>),
    Token(String),
    CommonName(Option<String>),
}

impl Credentials {
    pub fn of<T>(member: &Member, request: &Request<T>) -> Result<Self, StoreError> {
        let state = member.mvcc.auth.state();
        if !state.enabled {
            return Ok(Credentials::Open(state));
        }
        Ok(match request.metadata().get(TOKEN_METADATA_KEY) {
            Some(token) => Credentials::Token(
                token
                    .to_str()
                    .map_err(|_| StoreError::InvalidAuthToken)?
                    .to_string(),
            ),
            None if member.config.client_tls.client_cert_auth => {
                Credentials::CommonName(super::tls::common_name_of(request))
            }
            None => Credentials::CommonName(None),
        })
    }

    /// The caller these credentials name. A token this member does not know may come from a
    /// login through another member that is not applied here yet: the member then waits until
    /// it has applied everything committed (a ReadIndex barrier) and looks once more, so a
    /// token works on every member as soon as Authenticate has answered.
    pub async fn resolve(self, member: &Member) -> Result<Caller, StoreError> {
        let token = match self {
            Credentials::Open(state) => return Ok(Caller { user: None, state }),
            Credentials::CommonName(user) => {
                let state = member.mvcc.auth.state();
                return Ok(Caller { user, state });
            }
            Credentials::Token(token) => token,
        };
        let tokens = &member.mvcc.auth.tokens;
        let user = match tokens.user_of(&token) {
            Some(user) => user,
            None => {
                member.read_barrier().await?;
                tokens.user_of(&token).ok_or(StoreError::InvalidAuthToken)?
            }
        };
        let state = member.mvcc.auth.state();
        Ok(Caller {
            user: Some(user),
            state,
        })
    }
}

impl Caller {
    /// Resolves the caller of `request`: its token's user, else its certificate's CN.
    pub fn of<'m, T>(
        member: &'m Member,
        request: &Request<T>,
    ) -> impl Future<Output = Result<Self, StoreError>> + use<'m, T> {
        let credentials = Credentials::of(member, request);
        async move { credentials?.resolve(member).await }
    }

    fn user(&self) -> Result<&str, StoreError> {
        self.user.as_deref().ok_or(StoreError::UserEmpty)
    }

    /// May the caller read (or write) every key of `[key, range_end)`?
    pub fn check(&self, access: Access, key: &[u8], range_end: &[u8]) -> Result<(), StoreError> {
        if !self.state.enabled {
            return Ok(());
        }
        permissions::check(&self.state, self.user()?, access, key, range_end)
    }

    /// Is the caller an administrator (root role)?
    pub fn check_admin(&self) -> Result<(), StoreError> {
        if !self.state.enabled {
            return Ok(());
        }
        permissions::check_admin(&self.state, self.user()?)
    }

    /// A Range: read access to its keys.
    pub fn check_range(&self, req: &RangeRequest) -> Result<(), StoreError> {
        self.check(Access::Read, &req.key, &req.range_end)
    }

    /// A Put: write access to the key, and read access too when it asks for the old value.
    pub fn check_put(&self, req: &PutRequest) -> Result<(), StoreError> {
        self.check(Access::Write, &req.key, &[])?;
        if req.prev_kv {
            self.check(Access::Read, &req.key, &[])?;
        }
        Ok(())
    }

    pub fn check_delete(&self, req: &DeleteRangeRequest) -> Result<(), StoreError> {
        self.check(Access::Write, &req.key, &req.range_end)?;
        if req.prev_kv {
            self.check(Access::Read, &req.key, &req.range_end)?;
        }
        Ok(())
    }

    /// A Txn: read access to every compared key and every operation of both branches (nested
    /// txns included), whichever branch will run.
    pub fn check_txn(&self, req: &TxnRequest) -> Result<(), StoreError> {
        if !self.state.enabled {
            return Ok(());
        }
        for compare in &req.compare {
            self.check(Access::Read, &compare.key, &compare.range_end)?;
        }
        for op in req.success.iter().chain(&req.failure) {
            match &op.request {
                Some(Op::RequestRange(r)) => self.check_range(r)?,
                Some(Op::RequestPut(r)) => self.check_put(r)?,
                Some(Op::RequestDeleteRange(r)) => self.check_delete(r)?,
                Some(Op::RequestTxn(r)) => self.check_txn(r)?,
                None => {}
            }
        }
        Ok(())
    }

    /// What the proposal carries so the state machine can tell a stale check (see module doc).
    pub fn header(&self) -> AuthHeader {
        AuthHeader {
            username: self.user.clone().unwrap_or_default(),
            auth_revision: self.state.revision,
        }
    }
}

impl Member {
    /// Proposes `request` on behalf of `caller` (see [`Caller::header`]).
    pub async fn propose_as(
        &self,
        caller: &Caller,
        request: keel_proto::keelraft::command::Request,
    ) -> Result<CommandOutcome, Status> {
        let result = self
            .propose(Command {
                request: Some(request),
                auth_header: Some(caller.header()),
            })
            .await?;
        result
            .result
            .ok_or_else(|| Status::internal("empty result from the state machine"))
    }
}

pub struct AuthService {
    member: Arc<Member>,
}

impl AuthService {
    pub fn server(member: Arc<Member>) -> AuthServer<Self> {
        AuthServer::new(Self { member })
    }

    fn header(&self) -> Option<ResponseHeader> {
        Some(self.member.header(self.member.mvcc.current_revision()))
    }

    /// Checks that the caller is an administrator, then replicates `request`.
    async fn admin_change<T>(
        &self,
        request: &Request<T>,
        change: AuthRequest,
    ) -> Result<Option<ResponseHeader>, Status> {
        let caller = Caller::of(&self.member, request).await?;
        caller.check_admin()?;
        self.replicate(&caller, change).await
    }

    async fn replicate(
        &self,
        caller: &Caller,
        change: AuthRequest,
    ) -> Result<Option<ResponseHeader>, Status> {
        let command = keel_proto::keelraft::command::Request::Auth(AuthCommand {
            request: Some(change),
        });
        match self.member.propose_as(caller, command).await? {
            CommandOutcome::Auth(_) => Ok(self.header()),
            _ => Err(Status::internal(
                "state machine answered with another request's result",
            )),
        }
    }

    /// The auth state for an administrator's read, after a ReadIndex barrier.
    async fn admin_read<T>(&self, request: &Request<T>) -> Result<Arc<AuthState>, Status> {
        Caller::of(&self.member, request).await?.check_admin()?;
        self.member.read_barrier().await?;
        Ok(self.member.mvcc.auth.state())
    }

    async fn hash_password(&self, password: String) -> Result<String, Status> {
        let cost = self.member.config.bcrypt_cost;
        tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
            .await
            .map_err(|e| Status::internal(format!("password hashing failed: {e}")))?
            .map_err(|e| Status::internal(format!("password hashing failed: {e}")))
    }
}

/// The password hash a user add / password change stores: the client's own bcrypt hash when it
/// sent one (etcd 3.5's `hashed_password`), else one made here.
async fn stored_hash(
    service: &AuthService,
    password: String,
    hashed: String,
) -> Result<String, Status> {
    if !hashed.is_empty() {
        return Ok(hashed);
    }
    service.hash_password(password).await
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(
        &self,
        request: Request<AuthEnableRequest>,
    ) -> Result<Response<AuthEnableResponse>, Status> {
        let change = AuthRequest::Enable(*request.get_ref());
        let header = self.admin_change(&request, change).await?;
        tracing::info!("authentication enabled");
        Ok(Response::new(AuthEnableResponse { header }))
    }

    async fn auth_disable(
        &self,
        request: Request<AuthDisableRequest>,
    ) -> Result<Response<AuthDisableResponse>, Status> {
        let change = AuthRequest::Disable(*request.get_ref());
        let header = self.admin_change(&request, change).await?;
        tracing::info!("authentication disabled");
        Ok(Response::new(AuthDisableResponse { header }))
    }

    async fn auth_status(
        &self,
        _request: Request<AuthStatusRequest>,
    ) -> Result<Response<AuthStatusResponse>, Status> {
        self.member.read_barrier().await?;
        let state = self.member.mvcc.auth.state();
        Ok(Response::new(AuthStatusResponse {
            header: self.header(),
            enabled: state.enabled,
            auth_revision: state.revision,
        }))
    }

    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let request = request.into_inner();
        // Check the password against every auth change committed before the login (a user
        // just added, auth just enabled through another member), not this member's lag.
        self.member.read_barrier().await?;
        let state = self.member.mvcc.auth.state();
        if !state.enabled {
            return Err(StoreError::AuthNotEnabled.into());
        }
        let user = apply::user(&state, &request.name).ok_or(StoreError::AuthFailed)?;
        if user.options.as_ref().is_some_and(|o| o.no_password) {
            return Err(StoreError::AuthFailed.into());
        }
        let hash = String::from_utf8_lossy(&user.password).into_owned();
        let password = request.password;
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .map_err(|e| Status::internal(format!("password check failed: {e}")))?
            .unwrap_or(false);
        if !matches {
            tracing::info!(user = %request.name, "authentication failed: wrong password");
            return Err(StoreError::AuthFailed.into());
        }
        let token = tokens::new_token()
            .map_err(|e| Status::internal(format!("cannot make a token: {e}")))?;
        let caller = Caller {
            user: Some(request.name.clone()),
            state,
        };
        let login = AuthRequest::Authenticate(AuthenticateCommand {
            name: request.name,
            simple_token: token.clone(),
        });
        let header = self.replicate(&caller, login).await?;
        // A follower answers once it has applied the login itself (the leader committed it
        // before answering the forward): the client's next request here must find the token.
        self.member.read_barrier().await?;
        Ok(Response::new(AuthenticateResponse { header, token }))
    }

    async fn user_add(
        &self,
        request: Request<AuthUserAddRequest>,
    ) -> Result<Response<AuthUserAddResponse>, Status> {
        Caller::of(&self.member, &request).await?.check_admin()?;
        let mut add = request.get_ref().clone();
        if add.name.is_empty() {
            return Err(StoreError::UserEmpty.into());
        }
        let no_password = add.options.as_ref().is_some_and(|o| o.no_password);
        if !no_password {
            add.hashed_password =
                stored_hash(self, std::mem::take(&mut add.password), add.hashed_password).await?;
        }
        add.password.clear();
        let header = self
            .admin_change(&request, AuthRequest::UserAdd(add))
            .await?;
        Ok(Response::new(AuthUserAddResponse { header }))
    }

    async fn user_get(
        &self,
        request: Request<AuthUserGetRequest>,
    ) -> Result<Response<AuthUserGetResponse>, Status> {
        let state = self.admin_read(&request).await?;
        let user = apply::user(&state, &request.get_ref().name).ok_or(StoreError::UserNotFound)?;
        Ok(Response::new(AuthUserGetResponse {
            header: self.header(),
            roles: user.roles.clone(),
        }))
    }

    async fn user_list(
        &self,
        request: Request<AuthUserListRequest>,
    ) -> Result<Response<AuthUserListResponse>, Status> {
        let state = self.admin_read(&request).await?;
        Ok(Response::new(AuthUserListResponse {
            header: self.header(),
            users: state
                .users
                .iter()
                .map(|u| String::from_utf8_lossy(&u.name).into_owned())
                .collect(),
        }))
    }

    async fn user_delete(
        &self,
        request: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        let change = AuthRequest::UserDelete(request.get_ref().clone());
        let header = self.admin_change(&request, change).await?;
        Ok(Response::new(AuthUserDeleteResponse { header }))
    }

    async fn user_change_password(
        &self,
        request: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        Caller::of(&self.member, &request).await?.check_admin()?;
        let mut change = request.get_ref().clone();
        change.hashed_password = stored_hash(
            self,
            std::mem::take(&mut change.password),
            change.hashed_password,
        )
        .await?;
        let header = self
            .admin_change(&request, AuthRequest::UserChangePassword(change))
            .await?;
        Ok(Response::new(AuthUserChangePasswordResponse { header }))
    }

    async fn user_grant_role(
        &self,
        request: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        let change = AuthRequest::UserGrantRole(request.get_ref().clone());
        let header = self.admin_change(&request, change).await?;
        Ok(Response::new(AuthUserGrantRoleResponse { header }))
    }

    async fn user_revoke_role(
        &self,
        request: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        let change = AuthRequest::UserRevokeRole(request.get_ref().clone());
        let header = self.admin_change(&request, change).await?;
        Ok(Response::new(AuthUserRevokeRoleResponse { header }))
    }

    async fn role_add(
        &self,
        request: Request<AuthRoleAddRequest>,
    ) -> Result<Response<AuthRoleAddResponse>, Status> {
        let change = AuthRequest::RoleAdd(request.get_ref().clone());
        let header = self.admin_change(&request, change).await?;
        Ok(Response::new(AuthRoleAddResponse { header }))
    }

    async fn role_get(
        &self,
        request: Request<AuthRoleGetRequest>,
    ) -> Result<Response<AuthRoleGetResponse>, Status> {
        let state = self.admin_read(&request).await?;
        let name = &request.get_ref().role;
        let perm: Vec<Permission> = match apply::role(&state, name) {
            Some(role) => role.key_permission.clone(),
            // etcd answers for root even when the role was never created.
            None if name == crate::auth::ROOT => Vec::new(),
            None => return Err(StoreError::RoleNotFound.into()),
        };
        Ok(Response::new(AuthRoleGetResponse {
            header: self.header(),
            perm,
        }))
    }

    async fn role_list(
        &self,
        request: Request<AuthRoleListRequest>,
    ) -> Result<Response<AuthRoleListResponse>, Status> {
        let state = self.admin_read(&request).await?;
        Ok(Response::new(AuthRoleListResponse {
            header: self.header(),
            roles: state
                .roles
                .iter()
                .map(|r| String::from_utf8_lossy(&r.name).into_owned())
                .collect(),
        }))
    }

    async fn role_delete(
        &self,
        request: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        let change = AuthRequest::RoleDelete(request.get_ref().clone());
        let header = self.admin_change(&request, change).await?;
        Ok(Response::new(AuthRoleDeleteResponse { header }))
    }

    async fn role_grant_permission(
        &self,
        request: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        let change = AuthRequest::RoleGrantPermission(request.get_ref().clone());
        let header = self.admin_change(&request, change).await?;
        Ok(Response::new(AuthRoleGrantPermissionResponse { header }))
    }

    async fn role_revoke_permission(
        &self,
        request: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        let change = AuthRequest::RoleRevokePermission(request.get_ref().clone());
        let header = self.admin_change(&request, change).await?;
        Ok(Response::new(AuthRoleRevokePermissionResponse { header }))
    }
}
