//! `auth enable|disable|status`, `user ...` and `role ...`, as etcdctl v3.4's
//! `auth_command.go`, `user_command.go` and `role_command.go` print them (simple output), plus
//! the login behind `--user name[:password]` that every other command makes first.
//!
//! A password not given on the command line is read from stdin (etcdctl prompts on the
//! terminal; keelctl prints the prompt on stderr and reads one line, so scripts can pipe it).

use std::io::BufRead as _;

use clap::{ArgAction, Args, Subcommand};
use keel_proto::authpb::{Permission, UserAddOptions, permission};
use keel_proto::etcdserverpb::*;

use super::client::Conn;
use super::{CtlError, Ctx, emit, exit};

/// `auth <subcommand>`
#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Enables authentication
    Enable,
    /// Disables authentication
    Disable,
    /// Returns authentication status
    Status,
}

/// `user <subcommand>`
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Adds a new user
    Add(UserAddArgs),
    /// Deletes a user
    Delete(NameArgs),
    /// Gets detailed information of a user
    Get(NameArgs),
    /// Lists all users
    List,
    /// Changes password of user
    Passwd(PasswdArgs),
    /// Grants a role to a user
    GrantRole(NameArgs),
    /// Revokes a role from a user
    RevokeRole(NameArgs),
}

/// `role <subcommand>`
#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Adds a new role
    Add(NameArgs),
    /// Deletes a role
    Delete(NameArgs),
    /// Gets detailed information of a role
    Get(NameArgs),
    /// Lists all roles
    List,
    /// Grants a key to a role
    GrantPermission(PermissionArgs),
    /// Revokes a key from a role
    RevokePermission(PermissionArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct NameArgs {
    #[arg(value_name = "NAME")]
    pub args: Vec<String>,
}

/// `user add <user name or user:password> [options]`
#[derive(Args, Debug, Clone, Default)]
pub struct UserAddArgs {
    #[arg(value_name = "USER")]
    pub args: Vec<String>,
    /// Read password from stdin instead of interactive terminal
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "true",
          default_missing_value = "true", action = ArgAction::Set)]
    pub interactive: bool,
    /// Supply password from the command line flag
    #[arg(long, default_value = "", hide_default_value = true)]
    pub new_user_password: String,
    /// Create a user without password (CN based auth only)
    #[arg(long)]
    pub no_password: bool,
}

/// `user passwd <user name> [options]`
#[derive(Args, Debug, Clone, Default)]
pub struct PasswdArgs {
    #[arg(value_name = "USER")]
    pub args: Vec<String>,
    /// If true, read password from stdin instead of interactive terminal
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "true",
          default_missing_value = "true", action = ArgAction::Set)]
    pub interactive: bool,
}

/// `role grant-permission [options] <role name> <permission type> <key> [endkey]` and
/// `role revoke-permission [options] <role name> <key> [endkey]`.
#[derive(Args, Debug, Clone, Default)]
pub struct PermissionArgs {
    #[arg(value_name = "ARGS")]
    pub args: Vec<String>,
    /// grant a prefix permission
    #[arg(long)]
    pub prefix: bool,
    /// grant a permission of keys that are greater than or equal to the given key using byte compare
    #[arg(long)]
    pub from_key: bool,
}

fn print(text: String) {
    emit(&super::output::Printed::from(text.into_bytes()));
}

fn usage(message: &str) -> CtlError {
    CtlError::new(exit::BAD_ARGS, message)
}

/// The one name a command takes, or etcdctl's usage error `what`.
fn one(args: &[String], what: &str) -> Result<String, CtlError> {
    match args {
        [name] => Ok(name.clone()),
        _ => Err(usage(what)),
    }
}

/// Reads a password: the prompt on stderr, one line from stdin.
fn read_password(prompt: &str) -> Result<String, CtlError> {
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CtlError::new(exit::ERROR, format!("failed to read password: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Logs in as `user` (`name:password`, or `name` with `password` / a prompt) and returns
/// the token every later request carries.
pub async fn login(conn: &Conn, user: &str, password: Option<&str>) -> Result<String, CtlError> {
    let (name, password) = match (user.split_once(':'), password) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "--user should not include a password when --password is given",
            ));
        }
        (Some((name, password)), None) => (name.to_string(), password.to_string()),
        (None, Some(password)) => (user.to_string(), password.to_string()),
        (None, None) => (user.to_string(), read_password("Password: ")?),
    };
    let mut auth = conn.auth();
    let resp = conn
        .call(auth.authenticate(conn.request(AuthenticateRequest { name, password })))
        .await
        // etcdctl fails while making its client: a connection error (exit code 2).
        .map_err(|e| CtlError::new(exit::BAD_CONNECTION, e.message))?;
    Ok(resp.token)
}

/// etcd's ErrRootRoleNotExist, which etcdctl's `auth enable` repairs itself.
const ROOT_ROLE_MISSING: &str = "etcdserver: root user does not have root role";

pub async fn auth(ctx: &Ctx, cmd: &AuthCommand) -> Result<(), CtlError> {
    let conn = ctx.connect().await?;
    let mut auth = conn.auth();
    match cmd {
        AuthCommand::Enable => {
            // As etcdctl: when root lacks the root role, create the role, grant it, retry.
            loop {
                match conn
                    .call(auth.auth_enable(conn.request(AuthEnableRequest {})))
                    .await
                {
                    Ok(_) => break,
                    Err(e) if e.message == ROOT_ROLE_MISSING => {
                        conn.call(auth.role_add(conn.request(AuthRoleAddRequest {
                            name: "root".into(),
                        })))
                        .await?;
                        conn.call(auth.user_grant_role(conn.request(AuthUserGrantRoleRequest {
                            user: "root".into(),
                            role: "root".into(),
                        })))
                        .await?;
                    }
                    Err(e) => return Err(e),
                }
            }
            print("Authentication Enabled\n".into());
        }
        AuthCommand::Disable => {
            conn.call(auth.auth_disable(conn.request(AuthDisableRequest {})))
                .await?;
            print("Authentication Disabled\n".into());
        }
        AuthCommand::Status => {
            let resp = conn
                .call(auth.auth_status(conn.request(AuthStatusRequest {})))
                .await?;
            print(format!(
                "Authentication Status: {}\nAuthRevision: {}\n",
                resp.enabled, resp.auth_revision
            ));
        }
    }
    Ok(())
}

pub async fn user(ctx: &Ctx, cmd: &UserCommand) -> Result<(), CtlError> {
    let conn = ctx.connect().await?;
    let mut auth = conn.auth();
    match cmd {
        UserCommand::Add(a) => {
            let spec = one(
                &a.args,
                "user add command requires user name as its argument",
            )?;
            let (name, password) = if a.no_password {
                (spec, String::new())
            } else if !a.new_user_password.is_empty() {
                (spec, a.new_user_password.clone())
            } else if let Some((name, password)) = spec.split_once(':') {
                (name.to_string(), password.to_string())
            } else {
                let password = read_password(&format!("Password of {spec}: "))?;
                if a.interactive {
                    let again = read_password(&format!(
                        "Type password of {spec} again for confirmation: "
                    ))?;
                    if again != password {
                        return Err(CtlError::new(
                            exit::BAD_ARGS,
                            "given passwords are different.",
                        ));
                    }
                }
                (spec, password)
            };
            conn.call(auth.user_add(conn.request(AuthUserAddRequest {
                name: name.clone(),
                password,
                options: Some(UserAddOptions {
                    no_password: a.no_password,
                }),
                hashed_password: String::new(),
            })))
            .await?;
            print(format!("User {name} created\n"));
        }
        UserCommand::Delete(a) => {
            let name = one(
                &a.args,
                "user delete command requires user name as its argument",
            )?;
            conn.call(auth.user_delete(conn.request(AuthUserDeleteRequest { name: name.clone() })))
                .await?;
            print(format!("User {name} deleted\n"));
        }
        UserCommand::Get(a) => {
            let name = one(
                &a.args,
                "user get command requires user name as its argument",
            )?;
            let resp = conn
                .call(auth.user_get(conn.request(AuthUserGetRequest { name: name.clone() })))
                .await?;
            let roles: String = resp.roles.iter().map(|r| format!(" {r}")).collect();
            print(format!("User: {name}\nRoles:{roles}\n"));
        }
        UserCommand::List => {
            let resp = conn
                .call(auth.user_list(conn.request(AuthUserListRequest {})))
                .await?;
            print(resp.users.iter().map(|u| format!("{u}\n")).collect());
        }
        UserCommand::Passwd(a) => {
            let name = one(
                &a.args,
                "user passwd command requires user name as its argument",
            )?;
            let password = read_password(&format!("Password of {name}: "))?;
            if a.interactive {
                let again =
                    read_password(&format!("Type password of {name} again for confirmation: "))?;
                if again != password {
                    return Err(CtlError::new(
                        exit::BAD_ARGS,
                        "given passwords are different.",
                    ));
                }
            }
            conn.call(
                auth.user_change_password(conn.request(AuthUserChangePasswordRequest {
                    name,
                    password,
                    hashed_password: String::new(),
                })),
            )
            .await?;
            print("Password updated\n".into());
        }
        UserCommand::GrantRole(a) => {
            let [user, role] = a.args.as_slice() else {
                return Err(usage(
                    "user grant command requires user name and role name as its argument",
                ));
            };
            conn.call(auth.user_grant_role(conn.request(AuthUserGrantRoleRequest {
                user: user.clone(),
                role: role.clone(),
            })))
            .await?;
            print(format!("Role {role} is granted to user {user}\n"));
        }
        UserCommand::RevokeRole(a) => {
            let [name, role] = a.args.as_slice() else {
                return Err(usage(
                    "user revoke-role requires user name and role name as its argument",
                ));
            };
            conn.call(
                auth.user_revoke_role(conn.request(AuthUserRevokeRoleRequest {
                    name: name.clone(),
                    role: role.clone(),
                })),
            )
            .await?;
            print(format!("Role {role} is revoked from user {name}\n"));
        }
    }
    Ok(())
}

/// The range end for `key` [endkey] with `--prefix` / `--from-key`, as etcdctl computes it.
fn range_end_of(key: &str, end: Option<&String>, a: &PermissionArgs) -> Result<Vec<u8>, CtlError> {
    match (end, a.prefix, a.from_key) {
        (Some(_), true, _) | (Some(_), _, true) => Err(usage(
            "unexpected endkey argument with --prefix or --from-key",
        )),
        (_, true, true) => Err(usage(
            "--from-key and --prefix flags are mutually exclusive",
        )),
        (Some(end), false, false) => Ok(end.as_bytes().to_vec()),
        (None, true, false) => Ok(crate::ctl::kv::prefix_range_end(key.as_bytes())),
        (None, false, true) => Ok(vec![0]),
        (None, false, false) => Ok(Vec::new()),
    }
}

pub async fn role(ctx: &Ctx, cmd: &RoleCommand) -> Result<(), CtlError> {
    let conn = ctx.connect().await?;
    let mut auth = conn.auth();
    match cmd {
        RoleCommand::Add(a) => {
            let name = one(
                &a.args,
                "role add command requires role name as its argument",
            )?;
            conn.call(auth.role_add(conn.request(AuthRoleAddRequest { name: name.clone() })))
                .await?;
            print(format!("Role {name} created\n"));
        }
        RoleCommand::Delete(a) => {
            let role = one(
                &a.args,
                "role delete command requires role name as its argument",
            )?;
            conn.call(auth.role_delete(conn.request(AuthRoleDeleteRequest { role: role.clone() })))
                .await?;
            print(format!("Role {role} deleted\n"));
        }
        RoleCommand::Get(a) => {
            let role = one(
                &a.args,
                "role get command requires role name as its argument",
            )?;
            let resp = conn
                .call(auth.role_get(conn.request(AuthRoleGetRequest { role: role.clone() })))
                .await?;
            print(describe_role(&role, &resp.perm));
        }
        RoleCommand::List => {
            let resp = conn
                .call(auth.role_list(conn.request(AuthRoleListRequest {})))
                .await?;
            print(resp.roles.iter().map(|r| format!("{r}\n")).collect());
        }
        RoleCommand::GrantPermission(a) => {
            let (role, kind, key, end) = match a.args.as_slice() {
                [role, kind, key] => (role, kind, key, None),
                [role, kind, key, end] => (role, kind, key, Some(end)),
                _ => {
                    return Err(usage(
                        "role grant command requires role name, permission type, and key [endkey] as its argument",
                    ));
                }
            };
            let perm_type = permission::Type::from_str_name(&kind.to_uppercase())
                .ok_or_else(|| usage(&format!("invalid permission type {kind}")))?;
            let range_end = range_end_of(key, end, a)?;
            conn.call(
                auth.role_grant_permission(conn.request(AuthRoleGrantPermissionRequest {
                    name: role.clone(),
                    perm: Some(Permission {
                        perm_type: perm_type as i32,
                        key: key.as_bytes().to_vec(),
                        range_end,
                    }),
                })),
            )
            .await?;
            print(format!("Role {role} updated\n"));
        }
        RoleCommand::RevokePermission(a) => {
            let (role, key, end) = match a.args.as_slice() {
                [role, key] => (role, key, None),
                [role, key, end] => (role, key, Some(end)),
                _ => {
                    return Err(usage(
                        "role revoke-permission command requires role name and key [endkey] as its argument",
                    ));
                }
            };
            let range_end = range_end_of(key, end, a)?;
            conn.call(
                auth.role_revoke_permission(conn.request(AuthRoleRevokePermissionRequest {
                    role: role.clone(),
                    key: key.as_bytes().to_vec(),
                    range_end: range_end.clone(),
                })),
            )
            .await?;
            if range_end.is_empty() {
                print(format!(
                    "Permission of key {key} is revoked from role {role}\n"
                ));
            } else {
                let end = String::from_utf8_lossy(&range_end);
                print(format!(
                    "Permission of range [{key}, {end}) is revoked from role {role}\n"
                ));
            }
        }
    }
    Ok(())
}

/// etcdctl's simple `role get` output.
fn describe_role(role: &str, perms: &[Permission]) -> String {
    let mut out = format!("Role {role}\n");
    for (title, wanted) in [
        ("KV Read:", permission::Type::Read),
        ("KV Write:", permission::Type::Write),
    ] {
        out.push_str(title);
        out.push('\n');
        for perm in perms {
            let t = perm.perm_type;
            if t != wanted as i32 && t != permission::Type::Readwrite as i32 {
                continue;
            }
            let key = String::from_utf8_lossy(&perm.key);
            if perm.range_end.is_empty() {
                out.push_str(&format!("\t{key}\n"));
                continue;
            }
            if perm.range_end == [0] {
                out.push_str(&format!("\t[{key}, <open ended>"));
            } else {
                out.push_str(&format!(
                    "\t[{key}, {})",
                    String::from_utf8_lossy(&perm.range_end)
                ));
            }
            if crate::ctl::kv::prefix_range_end(&perm.key) == perm.range_end {
                out.push_str(&format!(" (prefix {key})"));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_get_prints_like_etcdctl() {
        let perms = [
            Permission {
                perm_type: permission::Type::Readwrite as i32,
                key: b"app/".to_vec(),
                range_end: b"app0".to_vec(),
            },
            Permission {
                perm_type: permission::Type::Read as i32,
                key: b"k".to_vec(),
                range_end: Vec::new(),
            },
            Permission {
                perm_type: permission::Type::Write as i32,
                key: b"z".to_vec(),
                range_end: vec![0],
            },
        ];
        assert_eq!(
            describe_role("dev", &perms),
            "Role dev\nKV Read:\n\t[app/, app0) (prefix app/)\n\tk\nKV Write:\n\t[app/, app0) (prefix app/)\n\t[z, <open ended>\n"
        );
        assert_eq!(crate::ctl::kv::prefix_range_end(b"a\xff"), b"b".to_vec());
        assert_eq!(crate::ctl::kv::prefix_range_end(b"\xff"), vec![0]);
    }
}
