//! `keelctl`: Keel's etcdctl-compatible command line client. Parses the arguments and
//! runs [`keel::ctl::run`]; failures are printed as etcdctl does (`Error: <message>` on
//! stderr) and exit with etcdctl's exit codes.

use clap::Parser as _;
use clap::error::ErrorKind;
use keel::ctl::{Cli, error_message, exit_code, run};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                // cobra (etcdctl) exits 1 on flag and argument errors.
                _ => 1,
            };
            std::process::exit(code);
        }
    };
    if let Err(err) = run(cli) {
        if let Some(msg) = error_message(&err) {
            eprintln!("{msg}");
        }
        std::process::exit(exit_code(&err));
    }
}
