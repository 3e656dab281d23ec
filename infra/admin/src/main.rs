//! `customiseyou-admin`: operator commands for a stage on AWS.
//!
//! ```sh
//! printf '%s\n' "$ADMIN_PASSWORD" | customiseyou-admin bootstrap --table <table> --email admin@example.com --starter-categories
//! ```
//!
//! Credentials and region come from the environment as for any AWS tool (`AWS_PROFILE`,
//! `AWS_REGION`, …); `CY_DYNAMODB_ENDPOINT` points it at an emulator. The password is read
//! from standard input (one line), never from the command line, where it would be in the
//! shell's history and the process list.

use std::io::BufRead;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use customiseyou_admin::{Bootstrap, bootstrap};
use cy_domain::{Email, Password, PersonName};

#[derive(Parser)]
#[command(name = "customiseyou-admin", about = "Operator commands for a CustomiseYou stage")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the first admin (password on stdin) and, optionally, starter categories.
    Bootstrap {
        /// The stage's table (the `TableName` output of the stack).
        #[arg(long)]
        table: String,
        /// The admin's email.
        #[arg(long)]
        email: String,
        /// The admin's name.
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// Also create the starter category tree (what is missing of it).
        #[arg(long)]
        starter_categories: bool,
    },
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let Command::Bootstrap { table, email, name, starter_categories } = Args::parse().command;
    let email = Email::parse(&email).map_err(|e| format!("--email {}", e.message))?;
    let name = PersonName::parse(&name).map_err(|e| format!("--name {}", e.message))?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading the password: {e}"))?;
    let password = Password::parse(line.trim_end_matches(['\r', '\n']))
        .map_err(|e| format!("the password (stdin) {}", e.message))?;
    let store = Arc::new(cy_store_dynamodb::DynamoStore::for_table(table).await);
    let done = bootstrap(store, Bootstrap { email: email.clone(), password, name, starter_categories }).await?;
    match done.admin_created {
        true => println!("admin {email} created"),
        false => println!("admin {email} already has an account: left as it is"),
    }
    if starter_categories {
        println!("{} starter categories created", done.categories_created);
    }
    Ok(())
}
